// Records which interpreter and libpython this crate is built against: the runtime
// loads that libpython globally (for C extensions) and reports the interpreter.
fn main() {
    let cfg = pyo3_build_config::get();
    if let (Some(dir), Some(name)) = (cfg.lib_dir(), cfg.lib_name()) {
        println!("cargo:rustc-env=SNAKEBRIDGE_LIBPYTHON={dir}/lib{name}.so");
    }
    let exe = cfg.executable().map(|e| e.to_string()).unwrap_or_default();
    println!("cargo:rustc-env=SNAKEBRIDGE_BUILD_PYTHON={exe}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=src/shim.py");
}
