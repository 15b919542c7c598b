//! `cargo xtask call <component> '<expr>'`: calls one export of a non-http
//! component with WAVE arguments and prints the WAVE result. The work is in
//! `edgekit_host::call`.

use anyhow::Result;
use xtask::flags;

pub fn run(flags: flags::Call) -> Result<()> {
    let component = edgekit_host::load(&edgekit_host::engines(), &flags.component)?;
    println!("{}", edgekit_host::call::call(&component, &flags.expr)?);
    Ok(())
}
