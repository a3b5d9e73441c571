//! `uniffi-bindgen`: generates the Swift, Kotlin and Python bindings from the built library
//! (`scripts/bindings` runs it with `generate --library`). Built from this crate so the
//! generator's version always matches the `uniffi` the library was built with.

fn main() {
    uniffi::uniffi_bindgen_main()
}
