//! stub
use anyhow::Result;
impl crate::flags::Bench { pub fn run(self, _sh: &xshell::Shell) -> Result<()> { anyhow::bail!("not implemented yet on this branch") } }
