//! The `fermyon:spin/variables` glue: a guest reads the variables spin.toml gives its component.

use crate::bindings::variables::{self, Error};
use crate::state::State;

impl variables::Host for State {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if crate::manifest::check_variable_name(&name).is_err() {
            return Ok(Err(Error::InvalidName(name)));
        }
        Ok(self.component.variables.get(&name).cloned().ok_or(Error::Undefined(name)))
    }
}
