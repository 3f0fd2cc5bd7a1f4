//! Any text as a config file, native or Envoy (the loader decides): it loads
//! or is refused with an error, never a panic; what loads converts to native
//! YAML that loads again.
#![no_main]

use ringway::config::{load_str, lower::lower, to_native_yaml};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(loaded) = load_str(text) {
        let native = to_native_yaml(&lower(&loaded.config));
        if let Err(e) = load_str(&native) {
            panic!("converted config does not load: {e}\n{native}");
        }
    }
});
