//! `cargo xtask call <component> '<expr>'`: calls one export of a non-http
//! component with WAVE arguments and prints the WAVE result. The work is in
//! `edgekit_host::call`.

use anyhow::Result;
use xshell::Shell;

impl crate::flags::Call {
    pub fn run(self, _sh: &Shell) -> Result<()> {
        let engine = edgekit_host::engine()?;
        let component = edgekit_host::load(&engine, &self.component)?;
        println!("{}", edgekit_host::call::call(&engine, &component, &self.expr)?);
        Ok(())
    }
}
