//! NVENC capability: which codecs the encoder on CUDA device 0 offers, and how many encode
//! sessions the driver allows at once.
//!
//! `libnvidia-encode.so.1` (part of the NVIDIA driver, not of CUDA) is opened at run time with
//! `libloading`; no SDK header or library is needed to build, and a host without it gets
//! [`NvencCapability::Unavailable`] with the reason. The probe opens one encode session on a
//! CUDA context, lists its codec GUIDs and closes it again.
//!
//! The session limit is not something the API reports: NVIDIA's drivers cap concurrent encode
//! sessions on GeForce (and TITAN) cards (8 per system on drivers 550 and later, fewer before), while
//! data-centre and professional cards have no driver cap. [`session_limit_for`] applies that
//! rule to the device name; `scripts/gpu_check.sh` prints what it says for the card at hand.

use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cudarc::driver::CudaContext;

/// The NVENC API version this probe speaks (11.0, drivers 455 and later); newer drivers accept
/// older API versions.
const API_MAJOR: u32 = 11;
const API_MINOR: u32 = 0;
const API_VERSION: u32 = API_MAJOR | (API_MINOR << 24);
/// `NV_ENC_DEVICE_TYPE_CUDA`
const DEVICE_TYPE_CUDA: u32 = 1;
/// The library name the driver installs.
pub const LIBRARY: &str = "libnvidia-encode.so.1";
/// GeForce's concurrent-session cap since driver 550.
pub const GEFORCE_SESSION_LIMIT: u32 = 8;

/// A video codec the encoder offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// H.264 / AVC (what Pixel Streaming uses by default).
    H264,
    /// H.265 / HEVC.
    Hevc,
    /// AV1 (Ada and later).
    Av1,
}

/// What the encoder on device 0 can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvencReport {
    /// The newest NVENC API version the driver supports (major, minor).
    pub driver_api: (u32, u32),
    /// CUDA device name of the GPU probed (device 0).
    pub device_name: String,
    /// Codecs its encoder offers.
    pub codecs: Vec<Codec>,
    /// Concurrent encode sessions the driver allows on this machine; `None`: no driver cap
    /// (the encoder's throughput is then the limit).
    pub session_limit: Option<u32>,
}

/// Whether this host can hardware-encode video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvencCapability {
    /// An encoder is there.
    Available(NvencReport),
    /// No encoder, and why (no driver library, no GPU, a GPU without NVENC such as H100/A100).
    Unavailable(String),
}

impl NvencCapability {
    /// The driver's session cap, when there is an encoder and its driver caps sessions.
    pub fn session_limit(&self) -> Option<u32> {
        match self {
            NvencCapability::Available(r) => r.session_limit,
            NvencCapability::Unavailable(_) => None,
        }
    }

    /// One line for the log.
    pub fn summary(&self) -> String {
        match self {
            NvencCapability::Unavailable(reason) => format!("no NVENC ({reason})"),
            NvencCapability::Available(r) => {
                let codecs: Vec<_> = r.codecs.iter().map(|c| format!("{c:?}")).collect();
                let limit = r.session_limit.map_or_else(
                    || "no driver session cap".to_string(),
                    |n| format!("{n} concurrent sessions (driver cap)"),
                );
                format!(
                    "NVENC on {} (API {}.{}): {}; {limit}",
                    r.device_name,
                    r.driver_api.0,
                    r.driver_api.1,
                    codecs.join(", ")
                )
            }
        }
    }
}

/// The driver's concurrent-session cap for a device name: GeForce and TITAN cards are capped,
/// data-centre and professional cards (Tesla, Quadro, RTX A/Ada, L-, A-, H-series) are not.
pub fn session_limit_for(device_name: &str) -> Option<u32> {
    let name = device_name.to_ascii_lowercase();
    (name.contains("geforce") || name.contains("titan")).then_some(GEFORCE_SESSION_LIMIT)
}

/// `NvEncodeAPIGetMaxSupportedVersion`'s value: major in the high bits, minor in the low 4.
pub fn split_api_version(raw: u32) -> (u32, u32) {
    (raw >> 4, raw & 0xf)
}

/// `NVENCAPI_STRUCT_VERSION(ver)` for [`API_VERSION`].
fn struct_version(ver: u32) -> u32 {
    API_VERSION | (ver << 16) | (0x7 << 28)
}

/// Probes the encoder on CUDA device 0. Never panics; every failure is `Unavailable`.
pub fn probe() -> NvencCapability {
    if !crate::cuda::driver_loadable() {
        return NvencCapability::Unavailable(
            "no NVIDIA driver: libcuda.so could not be loaded".into(),
        );
    }
    match catch_unwind(AssertUnwindSafe(probe_device_0)) {
        Ok(Ok(report)) => NvencCapability::Available(report),
        Ok(Err(reason)) => NvencCapability::Unavailable(reason),
        Err(_) => NvencCapability::Unavailable("the NVIDIA driver library failed".into()),
    }
}

fn probe_device_0() -> Result<NvencReport, String> {
    let lib = open_library()?;
    let api = ffi::Api::load(&lib)?;
    let raw = api.max_supported_version()?;
    let driver_api = split_api_version(raw);
    if driver_api < (API_MAJOR, API_MINOR) {
        return Err(format!(
            "the driver's NVENC API {}.{} is older than {API_MAJOR}.{API_MINOR}",
            driver_api.0, driver_api.1
        ));
    }
    let ctx = CudaContext::new(0).map_err(|e| format!("no CUDA context on GPU 0: {e}"))?;
    let device_name = ctx.name().map_err(|e| format!("GPU 0: {e}"))?;
    let functions = api.functions()?;
    let guids = functions
        .open(&ctx)
        .and_then(|session| session.codec_guids())
        .map_err(|e| format!("GPU 0 ({device_name}) has no usable encoder: {e}"))?;
    Ok(NvencReport {
        driver_api,
        session_limit: session_limit_for(&device_name),
        codecs: guids.iter().filter_map(ffi::Guid::codec).collect(),
        device_name,
    })
}

/// Counts the encode sessions the driver lets this process hold at once on CUDA device 0, by
/// opening sessions until one is refused (at most `up_to`), then closing them all. A check for
/// a GPU host (`scripts/gpu_check.sh`), not for a server: while it runs, the sessions it holds
/// are not available to Unreal. `Ok(n)` with n < `up_to` is the driver's cap, `Ok(up_to)`
/// means no cap was met; the error names the refusal when not even one session opens.
pub fn measure_session_limit(up_to: u32) -> Result<(u32, Option<String>), String> {
    if !crate::cuda::driver_loadable() {
        return Err("no NVIDIA driver: libcuda.so could not be loaded".into());
    }
    catch_unwind(AssertUnwindSafe(|| {
        let lib = open_library()?;
        let api = ffi::Api::load(&lib)?;
        let functions = api.functions()?;
        let ctx = CudaContext::new(0).map_err(|e| format!("no CUDA context on GPU 0: {e}"))?;
        let mut held = Vec::new();
        let mut refusal = None;
        while held.len() < up_to as usize {
            match functions.open(&ctx) {
                Ok(session) => held.push(session),
                Err(e) if held.is_empty() => return Err(e),
                Err(e) => {
                    refusal = Some(e);
                    break;
                }
            }
        }
        Ok((held.len() as u32, refusal))
    }))
    .unwrap_or_else(|_| Err("the NVIDIA driver library failed".into()))
}

fn open_library() -> Result<libloading::Library, String> {
    // SAFETY: loading the driver's own library runs only its initialisers, which have no
    // preconditions on our side.
    #[allow(unsafe_code)]
    unsafe { libloading::Library::new(LIBRARY) }
        .map_err(|e| format!("{LIBRARY} could not be loaded ({e})"))
}

/// The few NVENC entry points and structures the probe needs, laid out as in NVIDIA's
/// `nvEncodeAPI.h` (API 11+: the function table and the session parameters have kept this
/// layout since their introduction; new entries only ever replace reserved slots).
#[allow(unsafe_code)]
mod ffi {
    use super::*;

    type Status = u32;
    type GetMaxVersion = unsafe extern "C" fn(*mut u32) -> Status;
    type CreateInstance = unsafe extern "C" fn(*mut FunctionList) -> Status;
    type GetGuidCount = unsafe extern "C" fn(*mut c_void, *mut u32) -> Status;
    type GetGuids = unsafe extern "C" fn(*mut c_void, *mut Guid, u32, *mut u32) -> Status;
    type DestroyEncoder = unsafe extern "C" fn(*mut c_void) -> Status;
    type OpenSessionEx = unsafe extern "C" fn(*mut OpenSessionParams, *mut *mut c_void) -> Status;

    /// `GUID` as the header defines it off Windows.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Guid {
        data1: u32,
        data2: u16,
        data3: u16,
        data4: [u8; 8],
    }

    const H264: Guid = Guid {
        data1: 0x6bc8_2762,
        data2: 0x4e63,
        data3: 0x4ca4,
        data4: [0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf],
    };
    const HEVC: Guid = Guid {
        data1: 0x790c_dc88,
        data2: 0x4522,
        data3: 0x4d7b,
        data4: [0x94, 0x25, 0xbd, 0xa9, 0x97, 0x5f, 0x76, 0x03],
    };
    const AV1: Guid = Guid {
        data1: 0x0a35_2289,
        data2: 0x0aa7,
        data3: 0x4759,
        data4: [0x86, 0x2d, 0x5d, 0x15, 0xcd, 0x16, 0xd2, 0x54],
    };

    impl Guid {
        pub fn codec(&self) -> Option<Codec> {
            match *self {
                H264 => Some(Codec::H264),
                HEVC => Some(Codec::Hevc),
                AV1 => Some(Codec::Av1),
                _ => None,
            }
        }
    }

    /// Slots of `NV_ENCODE_API_FUNCTION_LIST` after `version` and `reserved`.
    const GET_ENCODE_GUID_COUNT: usize = 1;
    const GET_ENCODE_GUIDS: usize = 4;
    const DESTROY_ENCODER: usize = 27;
    const OPEN_ENCODE_SESSION_EX: usize = 29;
    /// The header's table has 318 pointer slots; more zeroed room costs nothing.
    const SLOTS: usize = 400;

    /// `NV_ENCODE_API_FUNCTION_LIST`
    #[repr(C)]
    pub struct FunctionList {
        version: u32,
        reserved: u32,
        slots: [*mut c_void; SLOTS],
    }

    /// `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS`
    #[repr(C)]
    pub struct OpenSessionParams {
        version: u32,
        device_type: u32,
        device: *mut c_void,
        reserved: *mut c_void,
        api_version: u32,
        reserved1: [u32; 253],
        reserved2: [*mut c_void; 64],
    }

    pub struct Api<'lib> {
        get_max_version: libloading::Symbol<'lib, GetMaxVersion>,
        create_instance: libloading::Symbol<'lib, CreateInstance>,
    }

    fn status(call: &str, status: Status) -> Result<(), String> {
        const NAMES: [&str; 26] = [
            "SUCCESS",
            "NO_ENCODE_DEVICE",
            "UNSUPPORTED_DEVICE",
            "INVALID_ENCODERDEVICE",
            "INVALID_DEVICE",
            "DEVICE_NOT_EXIST",
            "INVALID_PTR",
            "INVALID_EVENT",
            "INVALID_PARAM",
            "INVALID_CALL",
            "OUT_OF_MEMORY",
            "ENCODER_NOT_INITIALIZED",
            "UNSUPPORTED_PARAM",
            "LOCK_BUSY",
            "NOT_ENOUGH_BUFFER",
            "INVALID_VERSION",
            "MAP_FAILED",
            "NEED_MORE_INPUT",
            "ENCODER_BUSY",
            "EVENT_NOT_REGISTERD",
            "GENERIC",
            "INCOMPATIBLE_CLIENT_KEY",
            "UNIMPLEMENTED",
            "RESOURCE_REGISTER_FAILED",
            "RESOURCE_NOT_REGISTERED",
            "RESOURCE_NOT_MAPPED",
        ];
        match status {
            0 => Ok(()),
            s => match NAMES.get(s as usize) {
                Some(name) => Err(format!("{call} returned NV_ENC_ERR_{name} ({s})")),
                None => Err(format!("{call} returned NVENC status {s}")),
            },
        }
    }

    impl<'lib> Api<'lib> {
        pub fn load(lib: &'lib libloading::Library) -> Result<Self, String> {
            // SAFETY: the symbol types are the header's prototypes for these two exports.
            unsafe {
                Ok(Self {
                    get_max_version: lib
                        .get(b"NvEncodeAPIGetMaxSupportedVersion\0")
                        .map_err(|e| format!("{LIBRARY}: {e}"))?,
                    create_instance: lib
                        .get(b"NvEncodeAPICreateInstance\0")
                        .map_err(|e| format!("{LIBRARY}: {e}"))?,
                })
            }
        }

        pub fn max_supported_version(&self) -> Result<u32, String> {
            let mut raw = 0u32;
            // SAFETY: writes one u32 through a valid pointer.
            status("NvEncodeAPIGetMaxSupportedVersion", unsafe {
                (self.get_max_version)(&mut raw)
            })?;
            Ok(raw)
        }

        /// The encoder's entry points (`NvEncodeAPICreateInstance`).
        pub fn functions(&self) -> Result<Functions, String> {
            let mut list = Box::new(FunctionList {
                version: struct_version(2),
                reserved: 0,
                slots: [std::ptr::null_mut(); SLOTS],
            });
            // SAFETY: the driver fills the table it is given (version set as the header asks).
            status("NvEncodeAPICreateInstance", unsafe {
                (self.create_instance)(&mut *list)
            })?;
            let slot = |i: usize, name: &str| {
                let p = list.slots[i];
                if p.is_null() {
                    Err(format!("{LIBRARY} gave no {name}"))
                } else {
                    Ok(p)
                }
            };
            // SAFETY (the four transmutes): each slot holds the function the header places
            // there, with the prototype given by the target type.
            unsafe {
                Ok(Functions {
                    open: std::mem::transmute::<*mut c_void, OpenSessionEx>(slot(
                        OPEN_ENCODE_SESSION_EX,
                        "nvEncOpenEncodeSessionEx",
                    )?),
                    guid_count: std::mem::transmute::<*mut c_void, GetGuidCount>(slot(
                        GET_ENCODE_GUID_COUNT,
                        "nvEncGetEncodeGUIDCount",
                    )?),
                    guids: std::mem::transmute::<*mut c_void, GetGuids>(slot(
                        GET_ENCODE_GUIDS,
                        "nvEncGetEncodeGUIDs",
                    )?),
                    destroy: std::mem::transmute::<*mut c_void, DestroyEncoder>(slot(
                        DESTROY_ENCODER,
                        "nvEncDestroyEncoder",
                    )?),
                })
            }
        }
    }

    /// The entry points the probe calls.
    pub struct Functions {
        open: OpenSessionEx,
        guid_count: GetGuidCount,
        guids: GetGuids,
        destroy: DestroyEncoder,
    }

    /// One open encode session; closed on drop. Borrows the context it was opened on.
    pub struct Session<'a> {
        functions: &'a Functions,
        encoder: *mut c_void,
        _ctx: &'a CudaContext,
    }

    impl Functions {
        /// Opens an encode session on `ctx` (the call the driver's session cap refuses).
        pub fn open<'a>(&'a self, ctx: &'a CudaContext) -> Result<Session<'a>, String> {
            ctx.bind_to_thread().map_err(|e| e.to_string())?;
            let mut params = Box::new(OpenSessionParams {
                version: struct_version(1),
                device_type: DEVICE_TYPE_CUDA,
                device: ctx.cu_ctx().cast(),
                reserved: std::ptr::null_mut(),
                api_version: API_VERSION,
                reserved1: [0; 253],
                reserved2: [std::ptr::null_mut(); 64],
            });
            let mut encoder: *mut c_void = std::ptr::null_mut();
            // SAFETY: params is a fully initialised struct of the header's layout; the session
            // borrows the context, so the context outlives it.
            status("nvEncOpenEncodeSessionEx", unsafe {
                (self.open)(&mut *params, &mut encoder)
            })?;
            Ok(Session {
                functions: self,
                encoder,
                _ctx: ctx,
            })
        }
    }

    impl Session<'_> {
        /// The codec GUIDs this encoder offers.
        pub fn codec_guids(&self) -> Result<Vec<Guid>, String> {
            let mut n = 0u32;
            // SAFETY: `encoder` is an open session; the out-pointer is valid.
            status("nvEncGetEncodeGUIDCount", unsafe {
                (self.functions.guid_count)(self.encoder, &mut n)
            })?;
            let mut found = vec![Guid::default(); n as usize];
            let mut written = 0u32;
            // SAFETY: `found` has room for `n` GUIDs, the size passed.
            status("nvEncGetEncodeGUIDs", unsafe {
                (self.functions.guids)(self.encoder, found.as_mut_ptr(), n, &mut written)
            })?;
            found.truncate(written.min(n) as usize);
            Ok(found)
        }
    }

    impl Drop for Session<'_> {
        fn drop(&mut self) {
            // SAFETY: closes this session, exactly once.
            let _ = unsafe { (self.functions.destroy)(self.encoder) };
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn layouts_match_the_header() {
            // version + reserved, then pointers; the session struct's apiVersion at 24 and its
            // size (4 + 4 + 8 + 8 + 4 + 253×4 + pad 4 + 64×8) as the header computes them.
            assert_eq!(std::mem::offset_of!(FunctionList, slots), 8);
            assert_eq!(std::mem::offset_of!(OpenSessionParams, api_version), 24);
            assert_eq!(std::mem::offset_of!(OpenSessionParams, reserved2), 1040);
            assert_eq!(std::mem::size_of::<OpenSessionParams>(), 1552);
            assert_eq!(std::mem::size_of::<Guid>(), 16);
        }

        #[test]
        fn codec_guids_map_to_codecs() {
            assert_eq!(H264.codec(), Some(Codec::H264));
            assert_eq!(HEVC.codec(), Some(Codec::Hevc));
            assert_eq!(AV1.codec(), Some(Codec::Av1));
            assert_eq!(Guid::default().codec(), None);
        }

        #[test]
        fn statuses_name_themselves() {
            assert_eq!(status("x", 0), Ok(()));
            assert_eq!(
                status("nvEncOpenEncodeSessionEx", 2).unwrap_err(),
                "nvEncOpenEncodeSessionEx returned NV_ENC_ERR_UNSUPPORTED_DEVICE (2)"
            );
            assert_eq!(status("x", 99).unwrap_err(), "x returned NVENC status 99");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geforce_and_titan_are_capped_datacentre_cards_are_not() {
        assert_eq!(session_limit_for("NVIDIA GeForce RTX 4090"), Some(8));
        assert_eq!(session_limit_for("NVIDIA TITAN RTX"), Some(8));
        for uncapped in [
            "NVIDIA L40S",
            "NVIDIA RTX A6000",
            "NVIDIA RTX 6000 Ada Generation",
            "Tesla T4",
            "Quadro RTX 5000",
            "NVIDIA A10G",
        ] {
            assert_eq!(session_limit_for(uncapped), None, "{uncapped}");
        }
    }

    #[test]
    fn api_versions_split_and_struct_versions_follow_the_header() {
        assert_eq!(split_api_version((12 << 4) | 2), (12, 2));
        // NVENCAPI_STRUCT_VERSION(2) for API 11.0
        assert_eq!(struct_version(2), 0x7002_000b);
    }

    #[test]
    fn summary_says_what_limits_sessions() {
        let report = NvencReport {
            driver_api: (13, 0),
            device_name: "NVIDIA GeForce RTX 4090".into(),
            codecs: vec![Codec::H264, Codec::Hevc, Codec::Av1],
            session_limit: Some(8),
        };
        let available = NvencCapability::Available(report);
        assert_eq!(available.session_limit(), Some(8));
        assert_eq!(
            available.summary(),
            "NVENC on NVIDIA GeForce RTX 4090 (API 13.0): H264, Hevc, Av1; 8 concurrent sessions (driver cap)"
        );
        let none = NvencCapability::Unavailable("no driver".into());
        assert_eq!(none.session_limit(), None);
        assert_eq!(none.summary(), "no NVENC (no driver)");
    }
}
