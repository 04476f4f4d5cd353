//! Cargo integration tests of `snakebridge_core` live in `tests/`, one file per module
//! of the core; they need Python but no BEAM. This library is their shared set-up: every
//! test starts with [`start`] (or [`start_with_module`]), which starts Python as the NIF
//! does, once per test binary.

use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, Once};

use pyo3::types::PyModule;
use snakebridge_core::interpreter;

static INIT: Once = Once::new();
/// Modules made by `start_with_module` in this test binary.
static MODULES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Starts Python as the NIF does (`interpreter::init`, no extra paths), once per test binary.
/// Every test calls it first.
pub fn start() {
    INIT.call_once(|| interpreter::init(None, vec![]).expect("interpreter::init"));
    assert!(interpreter::is_ready());
}

/// [`start`], then the module `name` with the source `src` in `sys.modules` (made once
/// per test binary; later calls with the same name find it made).
pub fn start_with_module(name: &str, src: &CStr) {
    start();
    // Taken before attaching: no thread waits for this lock while attached.
    let mut made = MODULES.lock().unwrap_or_else(|p| p.into_inner());
    if made.iter().any(|m| m == name) {
        return;
    }
    let c_name = CString::new(name).unwrap();
    let file = CString::new(format!("{name}.py")).unwrap();
    interpreter::attach(|py| {
        // from_code registers the module in sys.modules.
        PyModule::from_code(py, src, &file, &c_name)
            .unwrap_or_else(|e| panic!("module {name}: {e}"));
    })
    .expect("attached");
    made.push(name.to_string());
}

/// A fresh, empty directory of this test binary's own (named after `tag` and the pid).
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rust_tests-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const OWN_PROCESS: &str = "RUST_TESTS_OWN_PROCESS";

/// For tests that must be alone in their process (a fork, Python before its start): runs
/// the test `name` of this test binary again in a new process, alone, and asserts that it
/// passed. True in that new process (the caller then does the work), false in this one.
///
/// ```ignore
/// #[test]
/// fn alone() {
///     if !rust_tests::in_own_process("alone") {
///         return;
///     }
///     // ... the test, in a process of its own
/// }
/// ```
pub fn in_own_process(name: &str) -> bool {
    if std::env::var(OWN_PROCESS).as_deref() == Ok(name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(OWN_PROCESS, name)
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{name} in a process of its own: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    false
}
