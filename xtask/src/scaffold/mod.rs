//! The scaffold wing: making projects and components. `init` makes a
//! directory a project and `update` brings its copy of edgekit's library and
//! pins up to date; `new` copies a template under a new name, into the
//! project or out of it as a standalone crate; `rm` takes a component out
//! with everything that names it.

pub mod init;
pub mod new;
pub mod rm;
pub mod update;

#[cfg(test)]
mod tests;
