//! The scaffold wing: making and removing components. `new` copies a
//! template under a new name, into the workspace or out of it as a
//! standalone crate; `rm` takes a component out with everything that names it.

pub mod new;
pub mod rm;

#[cfg(test)]
mod tests;
