// Links the NIF with an rpath to the libpython it is built against, so the BEAM needs no
// LD_LIBRARY_PATH to load it.
fn main() {
    let cfg = pyo3_build_config::get();
    if let Some(dir) = cfg.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    // Py_3_x, Py_LIMITED_API, PyPy... for the code that reads CPython's structs (etf.rs).
    pyo3_build_config::use_pyo3_cfgs();
}
