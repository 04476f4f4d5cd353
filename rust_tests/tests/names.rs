//! Modules, functions and attributes found by name: `names::import`, `resolve` and
//! `getattr_path`, and the errors of names that do not exist.

use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::{Arc, Barrier, OnceLock};

use pyo3::exceptions::{PyAttributeError, PyImportError, PyModuleNotFoundError};
use pyo3::prelude::*;
use snakebridge_core::{interpreter, names};

const MODULE: &CStr = cr#"
import types

ns = types.SimpleNamespace(a=types.SimpleNamespace(b=types.SimpleNamespace(c=42)))

class K:
    class Inner:
        @staticmethod
        def f():
            return "inner"

for _i in range(40):
    globals()[f"v{_i}"] = _i
"#;

/// A directory on sys.path with modules as files (re-importable, slow, broken).
fn module_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = rust_tests::temp_dir("names");
        std::fs::write(dir.join("rt_names_plain.py"), "VALUE = 'plain'\n").unwrap();
        std::fs::write(
            dir.join("rt_names_slow.py"),
            "import time\ntime.sleep(0.3)\nDONE = True\n",
        )
        .unwrap();
        std::fs::write(dir.join("rt_names_broken.py"), "VALUE = 1 // 0\n").unwrap();
        interpreter::init(None, vec![dir.to_str().unwrap().into()]).unwrap();
        dir
    })
}

fn start() {
    rust_tests::start_with_module("rt_names", MODULE);
    module_dir();
}

#[test]
fn import_gives_the_module_of_sys_modules() {
    start();
    interpreter::attach(|py| {
        let json = names::import(py, "json").unwrap();
        assert!(json.is(py.import("json").unwrap()));
        // Again (now straight from sys.modules on this thread): the same object.
        assert!(names::import(py, "json").unwrap().is(&json));

        // Dotted module names.
        let os_path = names::import(py, "os.path").unwrap();
        assert!(os_path.is(py.import("os").unwrap().getattr("path").unwrap()));
        let et = names::import(py, "xml.etree.ElementTree").unwrap();
        let name: String = et.getattr("__name__").unwrap().extract().unwrap();
        assert_eq!(name, "xml.etree.ElementTree");
        assert!(names::import(py, "xml.etree.ElementTree").unwrap().is(&et));
    })
    .unwrap();
}

#[test]
fn import_follows_sys_modules_after_the_first_import() {
    start();
    interpreter::attach(|py| {
        let modules = py.import("sys").unwrap().getattr("modules").unwrap();
        let first = names::import(py, "rt_names_plain").unwrap();
        assert!(names::import(py, "rt_names_plain").unwrap().is(&first));

        // Gone from sys.modules: imported again, a new module.
        modules.del_item("rt_names_plain").unwrap();
        let second = names::import(py, "rt_names_plain").unwrap();
        assert!(!second.is(&first));
        let v: String = second.getattr("VALUE").unwrap().extract().unwrap();
        assert_eq!(v, "plain");

        // None in sys.modules stops the import, as `import` does.
        modules.set_item("rt_names_plain", py.None()).unwrap();
        let err = names::import(py, "rt_names_plain").unwrap_err();
        assert!(err.is_instance_of::<PyImportError>(py), "{err}");
        modules.set_item("rt_names_plain", &second).unwrap();
        assert!(names::import(py, "rt_names_plain").unwrap().is(&second));
    })
    .unwrap();
}

#[test]
fn modules_that_do_not_exist_or_fail() {
    start();
    interpreter::attach(|py| {
        for missing in ["rt_names_nonexistent", "json.nonexistent", "rt_names.sub"] {
            let err = names::import(py, missing).unwrap_err();
            assert!(
                err.is_instance_of::<PyModuleNotFoundError>(py),
                "{missing}: {err}"
            );
            // Still missing the second time (nothing cached for a failed import).
            let err = names::import(py, missing).unwrap_err();
            assert!(err.is_instance_of::<PyModuleNotFoundError>(py), "{err}");
        }
        // A module whose body raises gives its own error, each time.
        for _ in 0..2 {
            let err = names::import(py, "rt_names_broken").unwrap_err();
            assert!(
                err.is_instance_of::<pyo3::exceptions::PyZeroDivisionError>(py),
                "{err}"
            );
        }
    })
    .unwrap();
}

#[test]
fn resolve_finds_dotted_functions() {
    start();
    interpreter::attach(|py| {
        let join = names::resolve(py, "os.path", "join").unwrap();
        assert!(join.is(py.import("os.path").unwrap().getattr("join").unwrap()));
        let f = names::resolve(py, "rt_names", "K.Inner.f").unwrap();
        assert_eq!(f.call0().unwrap().extract::<String>().unwrap(), "inner");
        let dumps = names::resolve(py, "json", "dumps").unwrap();
        assert_eq!(
            dumps
                .call1((vec![1, 2],))
                .unwrap()
                .extract::<String>()
                .unwrap(),
            "[1, 2]"
        );

        let err = names::resolve(py, "json", "nonexistent").unwrap_err();
        assert!(err.is_instance_of::<PyAttributeError>(py), "{err}");
        let err = names::resolve(py, "rt_names", "K.Missing.f").unwrap_err();
        assert!(err.is_instance_of::<PyAttributeError>(py), "{err}");
        assert!(err.to_string().contains("Missing"), "{err}");
        let err = names::resolve(py, "rt_names_nonexistent", "f").unwrap_err();
        assert!(err.is_instance_of::<PyModuleNotFoundError>(py), "{err}");
    })
    .unwrap();
}

#[test]
fn getattr_path_walks_attributes() {
    start();
    interpreter::attach(|py| {
        let ns = names::resolve(py, "rt_names", "ns").unwrap();
        let c: i64 = names::getattr_path(ns.clone(), "a.b.c")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(c, 42);
        let b = names::getattr_path(ns.clone(), "a.b").unwrap();
        assert!(b.is(ns.getattr("a").unwrap().getattr("b").unwrap()));

        for bad in ["a.x.c", "a.b.c.d", "x", "", "a..b"] {
            let err = names::getattr_path(ns.clone(), bad).unwrap_err();
            assert!(err.is_instance_of::<PyAttributeError>(py), "{bad:?}: {err}");
        }
        let err = names::getattr_path(ns, "a.x.c").unwrap_err();
        assert!(err.to_string().contains("'x'"), "{err}");
    })
    .unwrap();
}

#[test]
fn more_names_than_the_cache_holds() {
    start();
    // The per-thread cache keeps 32 names: 40 attribute names, twice, and modules
    // between them, all still found right after names were evicted.
    interpreter::attach(|py| {
        let json = names::import(py, "json").unwrap();
        for _ in 0..2 {
            for i in 0..40i64 {
                let v: i64 = names::resolve(py, "rt_names", &format!("v{i}"))
                    .unwrap()
                    .extract()
                    .unwrap();
                assert_eq!(v, i);
            }
            assert!(names::import(py, "json").unwrap().is(&json));
        }
    })
    .unwrap();
}

#[test]
fn threads_importing_a_slow_module_at_once_all_get_it_whole() {
    start();
    const N: usize = 4;
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                interpreter::attach(|py| {
                    let m = names::import(py, "rt_names_slow").unwrap();
                    let done: bool = m.getattr("DONE").unwrap().extract().unwrap();
                    let again = names::import(py, "rt_names_slow").unwrap();
                    (done, again.is(&m))
                })
                .unwrap()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), (true, true));
    }
}
