//! Host bindings for Spin's `fermyon:spin@2.0.0` interfaces (see `host/wit/spin.wit`). Private: each
//! interface's glue module implements them.

wasmtime::component::bindgen!({
    path: "wit",
    world: "fermyon:spin/host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/sqlite.connection": crate::sqlite::Connection,
        "fermyon:spin/key-value.store": crate::kv::Store,
    },
});

pub use fermyon::spin::{key_value, sqlite, variables};
