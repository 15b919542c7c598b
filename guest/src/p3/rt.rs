//! The executor of an async-lifted export: each call of the export is a
//! component-model task that runs the handler's future and whatever it
//! [`spawn`]s until all of them have finished, waiting on the WASI
//! streams, futures and calls they are blocked on.
//!
//! It plugs into wit-bindgen through the C interface wit-bindgen documents
//! for this (`wasip3_task_set`, version 1): while this executor polls or
//! drops a task's futures, it is the current task, and wit-bindgen's stream
//! and future operations register the waitables they block on with it. It
//! keeps them in a short vector, since a handler waits on one or two at a
//! time. wit-bindgen's own executor does the same job with a `BTreeMap` and
//! more machinery (about 9 KB of a hello handler; docs/size.md).
//!
//! A task the caller cancels (event `TASK_CANCELLED`) drops its futures,
//! which cancel their operations in progress; the export's future ends the
//! task with `task.cancel` when it is dropped before it returned a result
//! (`lower::Unreturned`), as the canonical ABI wants. A task's futures are
//! dropped while its state is whole and current, and the state is freed
//! only after that, when nothing points at it any more.
//!
//! What it does not do: wake a task from another task. A future here is
//! woken by a WASI event of its own task or by another future of the same
//! task; one that waits for something only another request's task would do
//! ends with its task.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ffi::c_void;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr;
use core::task::{Context, RawWaker, RawWakerVTable, Waker};

type Job = Pin<Box<dyn Future<Output = ()>>>;

/// Runs `future` in the current task after the caller's own future yields,
/// to completion, even past the response: the task (and the instance) stays
/// alive until it ends. On 0.3 this is how a body is written after `handle`
/// has returned the response that carries it.
///
/// Outside a task (no export call on the stack) the future is dropped.
pub fn spawn(future: impl Future<Output = ()> + 'static) {
    let call = CURRENT.get();
    if !call.is_null() {
        // SAFETY: `CURRENT` is the call being run, alive while it is set.
        let call = unsafe { &*call };
        push(&call.spawned, Box::pin(future));
    }
}

/// Waits until `waitable` (a stream or future end with an operation in
/// progress, or a subtask) is ready, and gives the code its event carries.
/// Dropped before that, it stops waiting (the caller cancels the operation).
///
/// Only inside a task: it registers with the current one.
pub(crate) fn wait(waitable: u32) -> Wait {
    Wait { waitable, code: Box::new(Cell::new(PENDING)), registered: false }
}

/// The future [`wait`] returns.
pub(crate) struct Wait {
    waitable: u32,
    /// Where the event's code lands (`PENDING` until then); boxed, so its
    /// address is stable while registered.
    code: Box<Cell<u32>>,
    registered: bool,
}

const PENDING: u32 = u32::MAX;

impl Future for Wait {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> core::task::Poll<u32> {
        let code = self.code.get();
        if code != PENDING {
            self.registered = false;
            return core::task::Poll::Ready(code);
        }
        if !self.registered {
            let call = CURRENT.get();
            if call.is_null() {
                // Polled outside a task: nothing could deliver the event.
                return core::task::Poll::Ready(PENDING);
            }
            let data: *const Cell<u32> = &*self.code;
            // SAFETY: `call` is current; `data` lives in the box until this
            // future is dropped, which unregisters first.
            unsafe { register(call.cast_mut().cast(), self.waitable, arrived, data.cast_mut().cast()) };
            self.registered = true;
        }
        // The executor polls every future of the task after an event, so no
        // waker is kept.
        core::task::Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        let call = CURRENT.get();
        if self.registered && !call.is_null() {
            // SAFETY: `call` is current, and this waitable was registered with it.
            unsafe { unregister(call.cast_mut().cast(), self.waitable) };
        }
    }
}

/// The callback of a [`Wait`]: stores the event's code.
unsafe extern "C" fn arrived(data: *mut c_void, code: u32) {
    // SAFETY: `data` is the `Cell` a `Wait` registered, still alive.
    unsafe { (*data.cast::<Cell<u32>>()).set(code) };
}

/// Starts one call of the export: the first turn of `future`, as if the
/// host had sent an empty event. Returns the callback code for the host.
#[doc(hidden)]
pub fn start(future: impl Future<Output = ()> + 'static) -> u32 {
    let call = Box::into_raw(Box::new(Call {
        jobs: ManuallyDrop::new(Cell::new(Vec::new())),
        spawned: ManuallyDrop::new(Cell::new(Vec::new())),
        waitables: Cell::new(Vec::new()),
        set: Cell::new(0),
    }));
    // SAFETY: `call` was just made and is owned by this task from now on.
    unsafe {
        push(&(*call).jobs, Box::pin(future));
        run(call, EVENT_NONE, 0, 0)
    }
}

/// The export's callback: the host reports an event for a task this
/// executor started.
///
/// # Safety
///
/// Only the host may call it, for a task [`start`] began and that has not
/// exited: the task's context slot holds its call.
#[doc(hidden)]
pub unsafe fn callback(event: u32, waitable: u32, code: u32) -> u32 {
    // SAFETY: the slot holds what `run` put there for this task.
    unsafe {
        let call = abi::context_get().cast::<Call>();
        abi::context_set(ptr::null_mut());
        run(call, event, waitable, code)
    }
}

/// One export call: its futures, and the waitables they block on.
///
/// The futures are not dropped with the call: `run` drops them before it
/// frees the call, leaving both vectors empty, with no memory of their own.
struct Call {
    /// The futures not yet finished (taken out while they are polled).
    jobs: ManuallyDrop<Cell<Vec<Job>>>,
    /// Futures spawned while polling, polled on the same turn.
    spawned: ManuallyDrop<Cell<Vec<Job>>>,
    /// Who to tell when a waitable is ready: (waitable, callback, its data).
    waitables: Cell<Vec<Registered>>,
    /// The task's waitable set, made on first use (0: none yet).
    set: Cell<u32>,
}

struct Registered {
    waitable: u32,
    callback: unsafe extern "C" fn(*mut c_void, u32),
    data: *mut c_void,
}

/// Set when a future's waker is woken while the current task is polled.
static WOKEN: Global<bool> = Global(Cell::new(false));

/// The waker every future here gets: waking it sets [`WOKEN`], so the task
/// being polled yields and is polled again. A future is woken by its own
/// task (see the module's doc), so one flag serves every task, and the
/// waker needs no memory of its own to count or free.
fn waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(|_| RawWaker::new(ptr::null(), &VTABLE), wake, wake, |_| {});
    fn wake(_: *const ()) {
        WOKEN.set(true);
    }
    // SAFETY: the functions ignore the data pointer and do what a waker's
    // must: clone to a copy of itself, wake, and drop, all without memory.
    unsafe { Waker::from_raw(RawWaker::new(ptr::null(), &VTABLE)) }
}

/// A single-threaded global: a component instance has one thread.
struct Global<T>(Cell<T>);

// SAFETY: without Wasm threads (the `atomics` target feature, refused at
// compile time in lib.rs) a component instance runs one thread, so no
// other thread can reach the cell.
#[cfg(not(target_feature = "atomics"))]
unsafe impl<T> Sync for Global<T> {}

impl<T: Copy> Global<T> {
    fn get(&self) -> T {
        self.0.get()
    }

    fn set(&self, value: T) -> T {
        self.0.replace(value)
    }
}

/// The call being run, for [`spawn`].
static CURRENT: Global<*const Call> = Global(Cell::new(ptr::null()));

const EVENT_NONE: u32 = 0;
const EVENT_CANCEL: u32 = 6;
const EXIT: u32 = 0;
const YIELD: u32 = 1;
const WAIT: u32 = 2;

fn push<T>(list: &Cell<Vec<T>>, item: T) {
    let mut items = list.take();
    items.push(item);
    list.set(items);
}

/// Runs one turn of `call` as the current task, then either keeps it in the
/// task's context slot for the next event or ends the task.
///
/// # Safety
///
/// `call` comes from `Box::into_raw` in [`start`] and is not in use.
unsafe fn run(call: *mut Call, event: u32, waitable: u32, code: u32) -> u32 {
    let answer = as_current(call, || {
        // SAFETY: see above; the reference ends before the box is freed.
        let call = unsafe { &*call };
        let answer = turn(call, event, waitable, code);
        if answer == EXIT {
            // The futures are dropped while the call is whole and current:
            // a future's drop may cancel an operation and unregister its
            // waitable, end the task (`task.cancel`), or spawn another
            // future, dropped in turn.
            while drop_jobs(&call.jobs) | drop_jobs(&call.spawned) {}
        }
        answer
    });
    if answer != EXIT {
        // SAFETY: the slot is this task's; `callback` takes it back.
        unsafe { abi::context_set(call.cast()) };
        return answer;
    }
    // SAFETY: nothing points at the call any more: its futures are gone and
    // it is no longer current.
    let call = unsafe { Box::from_raw(call) };
    let set = call.set.get();
    drop(call);
    if set != 0 {
        // SAFETY: the set is this task's, and empty now.
        unsafe { abi::waitable_set_drop(set) };
    }
    EXIT
}

/// Drops the futures in `list`; says whether there were any.
#[inline(never)]
fn drop_jobs(list: &Cell<Vec<Job>>) -> bool {
    let jobs = list.take();
    let any = !jobs.is_empty();
    drop(jobs);
    any
}

/// Delivers the event, then polls the futures until none can go on, and
/// says what the host should do next.
fn turn(call: &Call, event: u32, waitable: u32, code: u32) -> u32 {
    if event == EVENT_CANCEL {
        // The caller gave up: `run` drops the futures, and the export's
        // future, if it has not returned, ends the task with `task.cancel`.
        return EXIT;
    }
    if event != EVENT_NONE {
        deliver(call, waitable, code);
    }
    let waker = waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        WOKEN.set(false);
        let mut jobs = call.jobs.take();
        jobs.retain_mut(|job| job.as_mut().poll(&mut cx).is_pending());
        let spawned = call.spawned.take();
        let more = !spawned.is_empty();
        jobs.extend(spawned);
        let done = jobs.is_empty();
        call.jobs.set(jobs);
        if more {
            continue;
        }
        let waiting = {
            let waitables = call.waitables.take();
            let waiting = !waitables.is_empty();
            call.waitables.set(waitables);
            waiting
        };
        return if done && !waiting {
            EXIT
        } else if WOKEN.get() {
            // A future woke itself or another: let the host run others first.
            YIELD
        } else if waiting {
            WAIT | (call.set.get() << 4)
        } else {
            // Futures wait on nothing this task can ever deliver.
            EXIT
        };
    }
}

/// Hands `code` to whoever registered `waitable`.
fn deliver(call: &Call, waitable: u32, code: u32) {
    let mut waitables = call.waitables.take();
    let found = waitables.iter().position(|r| r.waitable == waitable).map(|i| waitables.swap_remove(i));
    call.waitables.set(waitables);
    if let Some(registered) = found {
        // SAFETY: the waitable is this task's; leaving every set is allowed.
        unsafe { abi::waitable_join(waitable, 0) };
        // SAFETY: wit-bindgen keeps `data` valid until its callback runs or
        // it unregisters, and it has not unregistered.
        unsafe { (registered.callback)(registered.data, code) };
    }
}

/// Runs `f` with `call` as the current task, for [`spawn`] and for
/// wit-bindgen's operations, restoring what was current before.
fn as_current<R>(call: *const Call, f: impl FnOnce() -> R) -> R {
    let mut task = abi::Task {
        version: abi::TASK_V1,
        ptr: call.cast_mut().cast(),
        waitable_register: register,
        waitable_unregister: unregister,
    };
    let outer = CURRENT.set(call);
    // SAFETY: `task` outlives every use: it is current only until the
    // previous value is put back below.
    let previous = unsafe { abi::wasip3_task_set(&mut task) };
    let result = f();
    // SAFETY: puts back what was current.
    unsafe { abi::wasip3_task_set(previous) };
    CURRENT.set(outer);
    result
}

/// wit-bindgen's `waitable_register`: `waitable` joins the task's set, and
/// `callback(data, code)` runs when it is ready. Returns the data of an
/// earlier registration of the same waitable, or null.
unsafe extern "C" fn register(
    call: *mut c_void,
    waitable: u32,
    callback: unsafe extern "C" fn(*mut c_void, u32),
    data: *mut c_void,
) -> *mut c_void {
    // SAFETY: `call` is the `ptr` of the task `as_current` made current.
    let call = unsafe { &*call.cast::<Call>() };
    if call.set.get() == 0 {
        // SAFETY: a plain canonical built-in.
        call.set.set(unsafe { abi::waitable_set_new() });
    }
    // SAFETY: the waitable is the caller's, the set this task's.
    unsafe { abi::waitable_join(waitable, call.set.get()) };
    let mut waitables = call.waitables.take();
    let earlier = match waitables.iter_mut().find(|r| r.waitable == waitable) {
        Some(r) => {
            r.callback = callback;
            core::mem::replace(&mut r.data, data)
        }
        None => {
            waitables.push(Registered { waitable, callback, data });
            ptr::null_mut()
        }
    };
    call.waitables.set(waitables);
    earlier
}

/// wit-bindgen's `waitable_unregister`: `waitable` leaves the task's set.
/// Returns its registration's data, or null.
unsafe extern "C" fn unregister(call: *mut c_void, waitable: u32) -> *mut c_void {
    // SAFETY: `call` is the `ptr` of the task `as_current` made current.
    let call = unsafe { &*call.cast::<Call>() };
    let mut waitables = call.waitables.take();
    let found = waitables.iter().position(|r| r.waitable == waitable).map(|i| waitables.swap_remove(i));
    call.waitables.set(waitables);
    match found {
        Some(registered) => {
            // SAFETY: the waitable is the caller's.
            unsafe { abi::waitable_join(waitable, 0) };
            registered.data
        }
        None => ptr::null_mut(),
    }
}

/// The canonical built-ins and wit-bindgen's task pointer. On other targets
/// (a component's unit tests on the host) they are never reached.
mod abi {
    use core::ffi::c_void;

    /// wit-bindgen's `wasip3_task`, version 1.
    #[repr(C)]
    pub struct Task {
        pub version: u32,
        pub ptr: *mut c_void,
        pub waitable_register:
            unsafe extern "C" fn(*mut c_void, u32, unsafe extern "C" fn(*mut c_void, u32), *mut c_void) -> *mut c_void,
        pub waitable_unregister: unsafe extern "C" fn(*mut c_void, u32) -> *mut c_void,
    }

    pub const TASK_V1: u32 = 1;

    #[cfg(target_arch = "wasm32")]
    unsafe extern "C" {
        /// Defined by wit-bindgen's runtime: sets the current task, returns
        /// the previous one.
        pub fn wasip3_task_set(task: *mut Task) -> *mut Task;
    }

    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "$root")]
    unsafe extern "C" {
        #[link_name = "[waitable-set-new]"]
        pub fn waitable_set_new() -> u32;
        #[link_name = "[waitable-set-drop]"]
        pub fn waitable_set_drop(set: u32);
        #[link_name = "[waitable-join]"]
        pub fn waitable_join(waitable: u32, set: u32);
        #[link_name = "[context-get-0]"]
        pub fn context_get() -> *mut u8;
        #[link_name = "[context-set-0]"]
        pub fn context_set(value: *mut u8);
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub use host::*;

    /// The built-ins exist only in a component; a host build links these,
    /// which no host code path calls.
    #[cfg(not(target_arch = "wasm32"))]
    mod host {
        use super::Task;

        pub unsafe fn wasip3_task_set(task: *mut Task) -> *mut Task {
            task
        }
        pub unsafe fn waitable_set_new() -> u32 {
            unreachable!("the canonical built-ins exist only in a component")
        }
        pub unsafe fn waitable_set_drop(_: u32) {}
        pub unsafe fn waitable_join(_: u32, _: u32) {}
        pub unsafe fn context_get() -> *mut u8 {
            unreachable!("the canonical built-ins exist only in a component")
        }
        pub unsafe fn context_set(_: *mut u8) {}
    }
}
