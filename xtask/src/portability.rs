//! stub
use anyhow::Result;
impl crate::flags::Portability { pub fn run(self, _sh: &xshell::Shell) -> Result<()> { anyhow::bail!("not implemented yet on this branch") } }
