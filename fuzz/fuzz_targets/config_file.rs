//! The config file: any content loads or gives an error naming the file, never a panic.
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process, rewritten for every input.
fn config_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("wpchat-fuzz-{}.toml", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = config_path();
    let Ok(mut file) = std::fs::File::create(path) else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    drop(file);
    if let Err(error) = wpchat::config::load(Some(path)) {
        assert!(error.to_string().contains("wpchat-fuzz-"), "{error}");
    }
});
