//! The COM objects fxmatch gives plugins: the host context (`IHostApplication`, which also
//! creates `IMessage`/`IAttributeList` for split plugins whose halves talk to each other), a
//! component handler that accepts the controller's edits, the parameter-change queues of the
//! process call and a memory stream for state.
//!
//! The parameter queues are allocated once, with a fixed number of queues and points, so
//! filling them on the audio thread never allocates: a point that does not fit is refused
//! (`kResultFalse`), as the VST3 API allows.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_void, CStr, CString};

use vst3::Steinberg::Vst::{
    IAttributeList, IAttributeListTrait, IComponentHandler, IComponentHandlerTrait, IHostApplication,
    IHostApplicationTrait, IMessage, IMessageTrait, IParamValueQueue, IParamValueQueueTrait,
    IParameterChanges, IParameterChangesTrait, ParamID, ParamValue, String128, TChar,
};
use vst3::Steinberg::{
    int32, int64, kInvalidArgument, kResultFalse, kResultOk, tresult, uint32, FIDString, IBStream,
    IBStreamTrait, TUID,
};
use vst3::{Class, ComPtr, ComRef, ComWrapper, Interface};

/// Points each parameter queue holds per process call.
pub const MAX_POINTS: usize = 16;

/// Write `text` into a VST3 UTF-16 string buffer, NUL-terminated and cut to fit.
pub(crate) fn write_utf16(text: &str, dst: &mut [TChar]) {
    let mut n = 0;
    for (d, c) in dst.iter_mut().zip(text.encode_utf16()) {
        *d = c as TChar;
        n += 1;
    }
    let end = n.min(dst.len().saturating_sub(1));
    if let Some(last) = dst.get_mut(end) {
        *last = 0;
    }
}

/// A VST3 UTF-16 string buffer (NUL-terminated or full) as a Rust string.
pub(crate) fn read_utf16(src: &[TChar]) -> String {
    let len = src.iter().position(|&c| c == 0).unwrap_or(src.len());
    String::from_utf16_lossy(&src[..len])
}

/// A NUL-terminated `char8` array as a Rust string.
pub(crate) fn read_c(src: &[std::ffi::c_char]) -> String {
    let len = src.iter().position(|&c| c == 0).unwrap_or(src.len());
    let bytes: Vec<u8> = src[..len].iter().map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn same_iid(tuid: *const TUID, iid: &vst3::com_scrape_types::Guid) -> bool {
    if tuid.is_null() {
        return false;
    }
    // SAFETY: the caller (a plugin) passes a pointer to a 16-byte TUID, checked non-null.
    let t = unsafe { *tuid };
    t.map(|b| b as u8) == *iid
}

/// The host context passed to `initialize`.
pub struct HostApp;

impl Class for HostApp {
    type Interfaces = (IHostApplication,);
}

impl IHostApplicationTrait for HostApp {
    unsafe fn getName(&self, name: *mut String128) -> tresult {
        if name.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: non-null pointer to the caller's String128.
        write_utf16("fxmatch", unsafe { &mut *name });
        kResultOk
    }

    unsafe fn createInstance(&self, cid: *mut TUID, iid: *mut TUID, obj: *mut *mut c_void) -> tresult {
        if obj.is_null() {
            return kInvalidArgument;
        }
        let made: Option<*mut c_void> = if same_iid(cid, &IMessage::IID) && same_iid(iid, &IMessage::IID) {
            ComWrapper::new(Message::default()).to_com_ptr::<IMessage>().map(|p| p.into_raw() as *mut c_void)
        } else if same_iid(cid, &IAttributeList::IID) && same_iid(iid, &IAttributeList::IID) {
            ComWrapper::new(AttributeList::default())
                .to_com_ptr::<IAttributeList>()
                .map(|p| p.into_raw() as *mut c_void)
        } else {
            None
        };
        // SAFETY: `obj` is the caller's out-pointer, checked non-null.
        unsafe { *obj = made.unwrap_or(std::ptr::null_mut()) };
        if made.is_some() {
            kResultOk
        } else {
            kResultFalse
        }
    }
}

/// Accepts the controller's edits (fxmatch sets parameters itself, through the process call).
pub struct ComponentHandler;

impl Class for ComponentHandler {
    type Interfaces = (IComponentHandler,);
}

impl IComponentHandlerTrait for ComponentHandler {
    unsafe fn beginEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }
    unsafe fn performEdit(&self, _id: ParamID, _value: ParamValue) -> tresult {
        kResultOk
    }
    unsafe fn endEdit(&self, _id: ParamID) -> tresult {
        kResultOk
    }
    unsafe fn restartComponent(&self, _flags: int32) -> tresult {
        kResultOk
    }
}

/// A message between the halves of a split plugin (created for it by [`HostApp`]).
#[derive(Default)]
pub struct Message {
    id: RefCell<Option<CString>>,
    attributes: RefCell<Option<ComPtr<IAttributeList>>>,
}

impl Class for Message {
    type Interfaces = (IMessage,);
}

impl IMessageTrait for Message {
    unsafe fn getMessageID(&self) -> FIDString {
        self.id.borrow().as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
    }

    unsafe fn setMessageID(&self, id: FIDString) {
        *self.id.borrow_mut() = if id.is_null() {
            None
        } else {
            // SAFETY: the plugin passes a NUL-terminated string, checked non-null.
            Some(unsafe { CStr::from_ptr(id) }.to_owned())
        };
    }

    unsafe fn getAttributes(&self) -> *mut IAttributeList {
        let mut a = self.attributes.borrow_mut();
        if a.is_none() {
            *a = ComWrapper::new(AttributeList::default()).to_com_ptr::<IAttributeList>();
        }
        a.as_ref().map_or(std::ptr::null_mut(), |p| p.as_ptr())
    }
}

enum Attr {
    Int(i64),
    Float(f64),
    Text(Vec<TChar>),
    Binary(Vec<u8>),
}

/// Named values of a [`Message`].
#[derive(Default)]
pub struct AttributeList {
    values: RefCell<HashMap<CString, Attr>>,
}

impl Class for AttributeList {
    type Interfaces = (IAttributeList,);
}

impl AttributeList {
    fn key(id: FIDString) -> Option<CString> {
        // SAFETY: attribute ids are NUL-terminated strings; null is refused.
        (!id.is_null()).then(|| unsafe { CStr::from_ptr(id) }.to_owned())
    }

    fn set(&self, id: FIDString, value: Attr) -> tresult {
        match Self::key(id) {
            Some(k) => {
                self.values.borrow_mut().insert(k, value);
                kResultOk
            }
            None => kInvalidArgument,
        }
    }
}

impl IAttributeListTrait for AttributeList {
    unsafe fn setInt(&self, id: FIDString, value: int64) -> tresult {
        self.set(id, Attr::Int(value))
    }

    unsafe fn getInt(&self, id: FIDString, value: *mut int64) -> tresult {
        let Some(k) = Self::key(id) else { return kInvalidArgument };
        match (self.values.borrow().get(&k), value.is_null()) {
            (Some(Attr::Int(v)), false) => {
                // SAFETY: non-null out-pointer from the plugin.
                unsafe { *value = *v };
                kResultOk
            }
            _ => kResultFalse,
        }
    }

    unsafe fn setFloat(&self, id: FIDString, value: f64) -> tresult {
        self.set(id, Attr::Float(value))
    }

    unsafe fn getFloat(&self, id: FIDString, value: *mut f64) -> tresult {
        let Some(k) = Self::key(id) else { return kInvalidArgument };
        match (self.values.borrow().get(&k), value.is_null()) {
            (Some(Attr::Float(v)), false) => {
                // SAFETY: non-null out-pointer from the plugin.
                unsafe { *value = *v };
                kResultOk
            }
            _ => kResultFalse,
        }
    }

    unsafe fn setString(&self, id: FIDString, string: *const TChar) -> tresult {
        if string.is_null() {
            return kInvalidArgument;
        }
        let mut text = Vec::new();
        let mut p = string;
        // SAFETY: the plugin passes a NUL-terminated UTF-16 string, checked non-null.
        unsafe {
            while *p != 0 {
                text.push(*p);
                p = p.add(1);
            }
        }
        text.push(0);
        self.set(id, Attr::Text(text))
    }

    unsafe fn getString(&self, id: FIDString, string: *mut TChar, size_in_bytes: uint32) -> tresult {
        let Some(k) = Self::key(id) else { return kInvalidArgument };
        match self.values.borrow().get(&k) {
            Some(Attr::Text(t)) if !string.is_null() && size_in_bytes >= 2 => {
                let room = size_in_bytes as usize / std::mem::size_of::<TChar>();
                let n = t.len().min(room);
                // SAFETY: the plugin's buffer holds `size_in_bytes` bytes, i.e. `room` chars;
                // `n <= room`, and the last written char is made NUL.
                unsafe {
                    std::ptr::copy_nonoverlapping(t.as_ptr(), string, n);
                    *string.add(n - 1) = 0;
                }
                kResultOk
            }
            _ => kResultFalse,
        }
    }

    unsafe fn setBinary(&self, id: FIDString, data: *const c_void, size_in_bytes: uint32) -> tresult {
        if data.is_null() && size_in_bytes > 0 {
            return kInvalidArgument;
        }
        let bytes = if size_in_bytes == 0 {
            Vec::new()
        } else {
            // SAFETY: the plugin passes `size_in_bytes` readable bytes at `data`.
            unsafe { std::slice::from_raw_parts(data as *const u8, size_in_bytes as usize) }.to_vec()
        };
        self.set(id, Attr::Binary(bytes))
    }

    unsafe fn getBinary(
        &self,
        id: FIDString,
        data: *mut *const c_void,
        size_in_bytes: *mut uint32,
    ) -> tresult {
        let Some(k) = Self::key(id) else { return kInvalidArgument };
        match self.values.borrow().get(&k) {
            Some(Attr::Binary(b)) if !data.is_null() && !size_in_bytes.is_null() => {
                // SAFETY: non-null out-pointers; the bytes live as long as this list (the
                // VST3 contract for getBinary).
                unsafe {
                    *data = b.as_ptr() as *const c_void;
                    *size_in_bytes = b.len() as uint32;
                }
                kResultOk
            }
            _ => kResultFalse,
        }
    }
}

/// One parameter's points in one process call (fixed capacity, see [`MAX_POINTS`]).
pub struct ParamQueue {
    id: Cell<ParamID>,
    len: Cell<usize>,
    points: [Cell<(int32, ParamValue)>; MAX_POINTS],
}

impl Class for ParamQueue {
    type Interfaces = (IParamValueQueue,);
}

impl IParamValueQueueTrait for ParamQueue {
    unsafe fn getParameterId(&self) -> ParamID {
        self.id.get()
    }

    unsafe fn getPointCount(&self) -> int32 {
        self.len.get() as int32
    }

    unsafe fn getPoint(&self, index: int32, offset: *mut int32, value: *mut ParamValue) -> tresult {
        if index < 0 || index as usize >= self.len.get() || offset.is_null() || value.is_null() {
            return kInvalidArgument;
        }
        let (o, v) = self.points[index as usize].get();
        // SAFETY: non-null out-pointers from the plugin.
        unsafe {
            *offset = o;
            *value = v;
        }
        kResultOk
    }

    unsafe fn addPoint(&self, offset: int32, value: ParamValue, index: *mut int32) -> tresult {
        let n = self.len.get();
        if n >= MAX_POINTS {
            return kResultFalse;
        }
        self.points[n].set((offset, value));
        self.len.set(n + 1);
        if !index.is_null() {
            // SAFETY: non-null out-pointer from the plugin.
            unsafe { *index = n as int32 };
        }
        kResultOk
    }
}

/// The parameter changes of one process call: a fixed set of queues, handed out in order.
pub struct ParamChanges {
    queues: Vec<ComWrapper<ParamQueue>>,
    used: Cell<usize>,
}

impl Class for ParamChanges {
    type Interfaces = (IParameterChanges,);
}

impl ParamChanges {
    /// Room for `capacity` parameters per call. Off the audio thread.
    pub fn new(capacity: usize) -> Self {
        let queues = (0..capacity.max(1))
            .map(|_| {
                ComWrapper::new(ParamQueue {
                    id: Cell::new(0),
                    len: Cell::new(0),
                    points: std::array::from_fn(|_| Cell::new((0, 0.0))),
                })
            })
            .collect();
        Self { queues, used: Cell::new(0) }
    }

    /// Empty every queue. Real-time safe.
    pub fn clear(&self) {
        for q in &self.queues[..self.used.get()] {
            q.len.set(0);
        }
        self.used.set(0);
    }

    /// Add a point for parameter `id` (the host side of `addParameterData` + `addPoint`).
    /// Real-time safe; `false` when the queues are full.
    pub fn push(&self, id: ParamID, offset: i32, value: f64) -> bool {
        let q = match self.queues[..self.used.get()].iter().find(|q| q.id.get() == id) {
            Some(q) => q,
            None => {
                let n = self.used.get();
                let Some(q) = self.queues.get(n) else { return false };
                q.id.set(id);
                q.len.set(0);
                self.used.set(n + 1);
                q
            }
        };
        // SAFETY: plain call on our own queue; a null index pointer is allowed.
        unsafe { q.addPoint(offset, value, std::ptr::null_mut()) == kResultOk }
    }

    /// The last value the plugin wrote for parameter `id` in this call (output changes).
    pub fn last_value(&self, id: ParamID) -> Option<f64> {
        let q = self.queues[..self.used.get()].iter().find(|q| q.id.get() == id)?;
        let n = q.len.get();
        (n > 0).then(|| q.points[n - 1].get().1)
    }

    fn queue_ptr(q: &ComWrapper<ParamQueue>) -> *mut IParamValueQueue {
        q.as_com_ref::<IParamValueQueue>()
            .map_or(std::ptr::null_mut(), |r: ComRef<'_, IParamValueQueue>| r.as_ptr())
    }
}

impl IParameterChangesTrait for ParamChanges {
    unsafe fn getParameterCount(&self) -> int32 {
        self.used.get() as int32
    }

    unsafe fn getParameterData(&self, index: int32) -> *mut IParamValueQueue {
        if index < 0 || index as usize >= self.used.get() {
            return std::ptr::null_mut();
        }
        Self::queue_ptr(&self.queues[index as usize])
    }

    unsafe fn addParameterData(&self, id: *const ParamID, index: *mut int32) -> *mut IParamValueQueue {
        if id.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: non-null pointer to the parameter id.
        let id = unsafe { *id };
        let pos = match self.queues[..self.used.get()].iter().position(|q| q.id.get() == id) {
            Some(p) => p,
            None => {
                let n = self.used.get();
                if n >= self.queues.len() {
                    return std::ptr::null_mut();
                }
                self.queues[n].id.set(id);
                self.queues[n].len.set(0);
                self.used.set(n + 1);
                n
            }
        };
        if !index.is_null() {
            // SAFETY: non-null out-pointer from the plugin.
            unsafe { *index = pos as int32 };
        }
        Self::queue_ptr(&self.queues[pos])
    }
}

/// A seekable in-memory stream: plugin state is written into it and read back from it.
#[derive(Default)]
pub struct MemStream {
    data: RefCell<Vec<u8>>,
    pos: Cell<usize>,
}

impl Class for MemStream {
    type Interfaces = (IBStream,);
}

impl MemStream {
    /// A stream to read `bytes` from, positioned at the start.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { data: RefCell::new(bytes), pos: Cell::new(0) }
    }

    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.data.borrow().clone()
    }

    /// Move back to the start (to hand the same bytes to a second reader).
    pub fn rewind(&self) {
        self.pos.set(0);
    }
}

impl IBStreamTrait for MemStream {
    unsafe fn read(&self, buffer: *mut c_void, num_bytes: int32, num_read: *mut int32) -> tresult {
        if buffer.is_null() || num_bytes < 0 {
            return kInvalidArgument;
        }
        let data = self.data.borrow();
        let pos = self.pos.get().min(data.len());
        let n = (num_bytes as usize).min(data.len() - pos);
        // SAFETY: the plugin's buffer holds `num_bytes >= n` bytes; ours holds `n` from `pos`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr().add(pos), buffer as *mut u8, n) };
        self.pos.set(pos + n);
        if !num_read.is_null() {
            // SAFETY: non-null out-pointer from the plugin.
            unsafe { *num_read = n as int32 };
        }
        kResultOk
    }

    unsafe fn write(&self, buffer: *mut c_void, num_bytes: int32, num_written: *mut int32) -> tresult {
        if buffer.is_null() || num_bytes < 0 {
            return kInvalidArgument;
        }
        let mut data = self.data.borrow_mut();
        let pos = self.pos.get();
        let end = pos + num_bytes as usize;
        if data.len() < end {
            data.resize(end, 0);
        }
        // SAFETY: the plugin's buffer holds `num_bytes` bytes; ours was resized to hold them.
        unsafe {
            std::ptr::copy_nonoverlapping(buffer as *const u8, data.as_mut_ptr().add(pos), num_bytes as usize)
        };
        self.pos.set(end);
        if !num_written.is_null() {
            // SAFETY: non-null out-pointer from the plugin.
            unsafe { *num_written = num_bytes };
        }
        kResultOk
    }

    unsafe fn seek(&self, pos: int64, mode: int32, result: *mut int64) -> tresult {
        let len = self.data.borrow().len() as i64;
        let base = match mode {
            0 => 0,
            1 => self.pos.get() as i64,
            2 => len,
            _ => return kInvalidArgument,
        };
        let to = base + pos;
        if to < 0 {
            return kInvalidArgument;
        }
        self.pos.set(to as usize);
        if !result.is_null() {
            // SAFETY: non-null out-pointer from the plugin.
            unsafe { *result = to };
        }
        kResultOk
    }

    unsafe fn tell(&self, pos: *mut int64) -> tresult {
        if pos.is_null() {
            return kInvalidArgument;
        }
        // SAFETY: non-null out-pointer from the plugin.
        unsafe { *pos = self.pos.get() as int64 };
        kResultOk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_hold_points_without_growing_and_refuse_overflow() {
        let changes = ParamChanges::new(2);
        assert!(changes.push(7, 0, 0.25));
        assert!(changes.push(7, 31, 0.5));
        assert!(changes.push(9, 0, 1.0));
        assert!(!changes.push(11, 0, 1.0), "a third parameter does not fit two queues");
        // SAFETY: plain calls on our own object.
        unsafe {
            assert_eq!(changes.getParameterCount(), 2);
            assert!(changes.getParameterData(2).is_null());
        }
        assert_eq!(changes.last_value(7), Some(0.5));
        for _ in 0..MAX_POINTS {
            changes.push(9, 0, 0.0);
        }
        assert!(!changes.push(9, 0, 0.0), "a full queue refuses the point");
        changes.clear();
        // SAFETY: as above.
        assert_eq!(unsafe { changes.getParameterCount() }, 0);
        assert_eq!(changes.last_value(7), None);
    }

    #[test]
    fn stream_writes_seeks_and_reads_back() {
        let s = MemStream::default();
        let mut bytes = *b"state";
        let mut n = 0;
        // SAFETY: plain calls with valid buffers.
        unsafe {
            assert_eq!(s.write(bytes.as_mut_ptr() as *mut c_void, 5, &mut n), kResultOk);
            assert_eq!(n, 5);
            s.seek(0, 0, std::ptr::null_mut());
            let mut back = [0u8; 8];
            s.read(back.as_mut_ptr() as *mut c_void, 8, &mut n);
            assert_eq!((&back[..5], n), (&b"state"[..], 5));
        }
    }

    #[test]
    fn utf16_strings_round_trip_and_are_cut_to_fit() {
        let mut buf = [0 as TChar; 8];
        write_utf16("ZamEQ2 long name", &mut buf);
        assert_eq!(read_utf16(&buf), "ZamEQ2 ");
        write_utf16("Gain", &mut buf);
        assert_eq!(read_utf16(&buf), "Gain");
    }
}
