//! The one embedded interpreter: start-up, and attaching threads to it.

use crate::shim::Helper;
use std::cell::Cell;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use once_cell::sync::OnceCell;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyType};

use crate::error::Error;

static READY: AtomicBool = AtomicBool::new(false);
static INIT_LOCK: Mutex<()> = Mutex::new(());
static SHIM: OnceCell<Py<PyModule>> = OnceCell::new();
static INTERRUPT: OnceCell<Py<PyType>> = OnceCell::new();

const SHIM_SRC: &std::ffi::CStr = {
    const S: &str = concat!(include_str!("shim.py"), "\0");
    match std::ffi::CStr::from_bytes_with_nul(S.as_bytes()) {
        Ok(c) => c,
        Err(_) => panic!("shim.py contains a NUL byte"),
    }
};

/// The interpreter this crate was built against (baked in by build.rs).
pub const BUILD_PYTHON: &str = env!("SNAKEBRIDGE_BUILD_PYTHON");

thread_local! {
    static KEPT: Cell<bool> = const { Cell::new(false) };
}

pub fn is_ready() -> bool {
    READY.load(Ordering::Acquire)
}

/// Runs `f` attached to Python. The thread's Python thread state is created once and
/// kept (a held PyGILState count), so later calls on it skip creating one.
pub fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Result<R, Error> {
    if !is_ready() {
        return Err(Error::NotStarted);
    }
    keep_thread_state();
    Ok(crate::bigstack::run(|| Python::attach(f)))
}

fn keep_thread_state() {
    KEPT.with(|kept| {
        if !kept.get() {
            // Ensure creates the thread state and takes the GIL; SaveThread gives the GIL
            // back but leaves the count at one, so Release never deletes the state.
            // SAFETY: Python is initialized (callers check READY), and this thread holds
            // no thread state yet (KEPT is false), so Ensure makes one and SaveThread
            // releases the GIL it took.
            unsafe {
                ffi::PyGILState_Ensure();
                ffi::PyEval_SaveThread();
            }
            kept.set(true);
        }
    });
}

pub fn shim(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    SHIM.get()
        .map(|m| m.bind(py))
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("SnakeBridge shim not loaded"))
}

pub fn interrupt_type(py: Python<'_>) -> Option<&Bound<'_, PyType>> {
    INTERRUPT.get().map(|t| t.bind(py))
}

pub fn is_interrupt(py: Python<'_>, err: &PyErr) -> bool {
    interrupt_type(py).is_some_and(|t| err.is_instance(py, t))
}

/// Starts the interpreter once. `executable` tells Python where its home is (a
/// virtualenv's python gives that venv's site-packages); `paths` go first on sys.path.
///
/// Python starts on a thread of its own, which CPython takes for its main thread: it then
/// parks for good, so user code never runs where `signal.signal` would work (the BEAM
/// owns signals) and `threading.main_thread()` stays alive.
pub fn init(executable: Option<String>, paths: Vec<String>) -> Result<(), Error> {
    if is_ready() {
        return crate::bigstack::run(|| init_here(executable, paths));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("snakebridge-main".into())
        .stack_size(crate::bigstack::STACK_SIZE)
        .spawn(move || {
            crate::bigstack::on_own_stack();
            let started = init_here(executable, paths);
            let ok = started.is_ok();
            let _ = tx.send(started);
            if ok {
                // Python's main thread: kept, never given work.
                loop {
                    std::thread::park();
                }
            }
        })
        .map_err(|e| Error::Init(format!("cannot start Python's thread: {e}")))?;
    rx.recv()
        .unwrap_or_else(|_| Err(Error::Init("Python's thread ended during start-up".into())))
}

/// Runs `f` inside a Python frame (the shim's `enter`): every callee then has a caller
/// frame, as it would when called from Python (`sys._getframe(1)`, `inspect.stack()`,
/// `eval` without globals, pydantic). A library thread enters once and runs all its work
/// there.
pub fn in_frame<'py, F>(py: Python<'py>, f: F) -> PyResult<()>
where
    F: for<'a> FnOnce(Python<'a>) + Send + 'static,
{
    let cell = Mutex::new(Some(f));
    let enter = pyo3::types::PyCFunction::new_closure(py, None, None, move |args, _kwargs| {
        if let Some(f) = cell.lock().unwrap_or_else(|p| p.into_inner()).take() {
            f(args.py());
        }
    })?;
    Helper::Enter.call1(py, (enter,))?;
    Ok(())
}

/// Deletes this thread's kept Python thread state (a library thread that ends).
pub fn forget_thread_state() {
    KEPT.with(|kept| {
        if kept.get() {
            // SAFETY: the count kept by `keep_thread_state` is one and this thread is
            // detached. Ensure takes the GIL (count two); releasing LOCKED keeps it
            // (count one); releasing UNLOCKED brings the count to zero, which clears and
            // deletes the thread state and gives the GIL back.
            unsafe {
                ffi::PyGILState_Ensure();
                ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_LOCKED);
                ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_UNLOCKED);
            }
            kept.set(false);
        }
    });
}

fn init_here(executable: Option<String>, paths: Vec<String>) -> Result<(), Error> {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if is_ready() {
        return Python::attach(|py| add_paths(py, paths)).map_err(Error::from);
    }
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        // An earlier start got as far as the interpreter: finish it, do not start twice.
        keep_thread_state();
        Python::attach(|py| load_shim(py).and_then(|_| add_paths(py, paths)))
            .map_err(|e| Error::Init(e.to_string()))?;
        return finish_start();
    }
    let exe = executable.unwrap_or_else(|| BUILD_PYTHON.to_string());
    promote_libpython()?;
    // SAFETY: Python is not initialized (checked above, under INIT_LOCK). The config is
    // zeroed then initialized by PyConfig_InitPythonConfig before any field is touched,
    // cleared on every path, and each PyStatus is checked. After a successful
    // Py_InitializeFromConfig this thread holds the GIL with the main thread state, so
    // `assume_attached` is true until PyEval_SaveThread gives the GIL back.
    unsafe {
        let mut config = MaybeUninit::<ffi::PyConfig>::zeroed();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let config = config.assume_init_mut();
        // The BEAM owns signals.
        config.install_signal_handlers = 0;
        if !exe.is_empty() {
            let c_exe = CString::new(exe.clone()).map_err(|_| Error::Init("bad path".into()))?;
            let status =
                ffi::PyConfig_SetBytesString(config, &mut config.program_name, c_exe.as_ptr());
            if ffi::PyStatus_Exception(status) != 0 {
                ffi::PyConfig_Clear(config);
                return Err(Error::Init(status_message(&status)));
            }
        }
        let status = ffi::Py_InitializeFromConfig(config);
        ffi::PyConfig_Clear(config);
        if ffi::PyStatus_Exception(status) != 0 {
            return Err(Error::Init(status_message(&status)));
        }
        // The BEAM may ignore SIGCHLD, which breaks waitpid() in Python's subprocess.
        let sigchld = libc::signal(libc::SIGCHLD, libc::SIG_DFL) != libc::SIG_ERR;

        let py = Python::assume_attached();
        let setup = if sigchld {
            load_shim(py).and_then(|_| add_paths(py, paths))
        } else {
            Err(pyo3::exceptions::PyOSError::new_err(
                "cannot reset SIGCHLD to its default (subprocess would break)",
            ))
        };
        // This thread keeps the main thread state; give the GIL back.
        ffi::PyEval_SaveThread();
        KEPT.with(|k| k.set(true));
        setup.map_err(|e| Error::Init(e.to_string()))?;
    }
    finish_start()
}

fn finish_start() -> Result<(), Error> {
    crate::fork::guard()?;
    READY.store(true, Ordering::Release);
    crate::interrupt::start();
    Ok(())
}

fn load_shim(py: Python<'_>) -> PyResult<()> {
    let shim = PyModule::from_code(py, SHIM_SRC, c"snakebridge_shim.py", c"_snakebridge")?;
    shim.call_method0(Helper::SafeMultiprocessing.name())?;
    let interrupt = shim
        .getattr(Helper::SnakeBridgeInterrupt.name())?
        .cast_into::<PyType>()?;
    let _ = INTERRUPT.set(interrupt.unbind());
    let _ = SHIM.set(shim.unbind());
    Ok(())
}

fn add_paths(py: Python<'_>, paths: Vec<String>) -> PyResult<()> {
    if paths.is_empty() {
        return Ok(());
    }
    Helper::AddPaths.call1(py, (paths,))?;
    Ok(())
}

/// Extension modules (math, _json, ...) expect libpython's symbols to be global; the BEAM
/// loads NIFs with RTLD_LOCAL, so reopen libpython with RTLD_GLOBAL.
fn promote_libpython() -> Result<(), Error> {
    let Some(path) = option_env!("SNAKEBRIDGE_LIBPYTHON") else {
        return Ok(());
    };
    let c = CString::new(path).map_err(|_| Error::Init(format!("bad libpython path {path}")))?;
    // SAFETY: `c` is a NUL-terminated path alive for the call. The handle is kept open
    // for good on purpose (the library must stay loaded while Python runs).
    let handle = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        return Err(Error::Init(format!(
            "cannot load {path} with global symbols (dlopen failed)"
        )));
    }
    Ok(())
}

fn status_message(status: &ffi::PyStatus) -> String {
    if status.err_msg.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: CPython sets err_msg to a static NUL-terminated string when not NULL.
        unsafe { std::ffi::CStr::from_ptr(status.err_msg) }
            .to_string_lossy()
            .into_owned()
    }
}
