// Links the NIF with an rpath to the libpython it is built against, and records which
// interpreter that was, so the BEAM needs no LD_LIBRARY_PATH and Python finds its home.
fn main() {
    let cfg = pyo3_build_config::get();
    if let Some(dir) = cfg.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        if let Some(name) = cfg.lib_name() {
            println!("cargo:rustc-env=SNAKEBRIDGE_LIBPYTHON={dir}/lib{name}.so");
        }
    }
    let exe = cfg.executable().map(|e| e.to_string()).unwrap_or_default();
    println!("cargo:rustc-env=SNAKEBRIDGE_BUILD_PYTHON={exe}");
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=src/shim.py");
}
