//! The `fermyon:spin/key-value` glue: a component may open only the stores spin.toml grants it
//! (`access-denied` otherwise, as in Spin); everything else is the backend's.

use super::KeyValueStore;
use crate::bindings::key_value::{self, Error};
use crate::state::State;
use std::sync::Arc;
use wasmtime::component::Resource;

/// An open guest store.
pub struct Store(Arc<dyn KeyValueStore>);

impl State {
    fn store(&self, handle: &Resource<Store>) -> wasmtime::Result<Arc<dyn KeyValueStore>> {
        Ok(self.table.get(handle)?.0.clone())
    }
}

fn other(error: anyhow::Error) -> Error {
    Error::Other(format!("{error:#}"))
}

impl key_value::Host for State {}

impl key_value::HostStore for State {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<Store>, Error>> {
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(store) = self.services.kv_stores.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        Ok(Ok(self.table.push(Store(store))?))
    }

    async fn get(&mut self, handle: Resource<Store>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        Ok(self.store(&handle)?.get(key).await.map_err(other))
    }

    async fn set(
        &mut self,
        handle: Resource<Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&handle)?.set(key, value).await.map_err(other))
    }

    async fn delete(&mut self, handle: Resource<Store>, key: String) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.store(&handle)?.delete(key).await.map_err(other))
    }

    async fn exists(&mut self, handle: Resource<Store>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        Ok(self.store(&handle)?.exists(key).await.map_err(other))
    }

    async fn get_keys(&mut self, handle: Resource<Store>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        Ok(self.store(&handle)?.get_keys().await.map_err(other))
    }

    async fn drop(&mut self, handle: Resource<Store>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}
