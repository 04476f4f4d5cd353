//! A large stack for Python. Dirty scheduler threads have small stacks (a few hundred
//! KiB); ordinary Python code that recurses through C (json.dumps of nested data, repr,
//! deepcopy) would overflow them and take the node down. Each thread that runs Python
//! switches, for the duration of the call, to a stack of its own that is mapped once and
//! committed only as it is used.

use std::cell::Cell;

/// Like the main thread's 8 MiB and then some; pages are committed as they are touched.
pub const STACK_SIZE: usize = 16 << 20;
const GUARD: usize = 64 << 10;

thread_local! {
    static STACK: Cell<Option<*mut u8>> = const { Cell::new(None) };
    static ON_IT: Cell<bool> = const { Cell::new(false) };
}

fn stack_base() -> *mut u8 {
    STACK.with(|s| {
        if let Some(base) = s.get() {
            return base;
        }
        // SAFETY: a fresh anonymous private mapping (no file, no fixed address); its
        // result is checked before use. The guard pages are the first GUARD bytes of that
        // mapping, and `base` stays inside it (GUARD < STACK_SIZE + GUARD).
        unsafe {
            let region = libc::mmap(
                std::ptr::null_mut(),
                STACK_SIZE + GUARD,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            );
            assert!(region != libc::MAP_FAILED, "mmap of a Python stack failed");
            // An overflow hits this guard (a clean fault), not other memory.
            let rc = libc::mprotect(region, GUARD, libc::PROT_NONE);
            assert!(rc == 0, "mprotect of a Python stack's guard failed");
            let base = (region as *mut u8).add(GUARD);
            s.set(Some(base));
            base
        }
    })
}

/// Tells `run` that this thread was started with a large stack of its own.
pub fn on_own_stack() {
    ON_IT.with(|o| o.set(true));
}

/// Runs `f` on this thread's large stack (directly, when already on it).
pub fn run<R>(f: impl FnOnce() -> R) -> R {
    if ON_IT.with(|o| o.get()) {
        return f();
    }
    let base = stack_base();
    ON_IT.with(|o| o.set(true));
    // psm forbids unwinding across the switch: carry a panic over it.
    // SAFETY: `base` is this thread's own mapping of STACK_SIZE usable bytes (above its
    // guard), not in use: ON_IT says this thread is not already running on it.
    let result = unsafe {
        psm::on_stack(base, STACK_SIZE, || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        })
    };
    ON_IT.with(|o| o.set(false));
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
