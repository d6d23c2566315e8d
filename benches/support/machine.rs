//! The table's header: which CPU the figures come from, its flags that decide the
//! kernels, and the kernel each dtype's linear layers ran on.

use sentiserve::model::{kernels::linear_kernel, Dtype};

/// Flags that pick a kernel path (or would, on another CPU).
const RELEVANT: [&str; 12] = [
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "avx_vnni",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "f16c",
];

/// Markdown lines: CPU model and logical CPUs, relevant flags present, kernel per dtype.
pub fn header(dtypes: &[String]) -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map_or(String::from("unknown"), |(_, v)| v.trim().to_string())
    };
    let flags = field("flags");
    let present: Vec<&str> = RELEVANT.iter().copied().filter(|f| flags.split(' ').any(|x| x == *f)).collect();
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let kernels: Vec<String> = dtypes
        .iter()
        .filter_map(|d| d.parse::<Dtype>().ok().map(|dtype| format!("{d}: {}", linear_kernel(dtype, true))))
        .collect();
    let (family, model) = (field("cpu family"), field("model"));
    let core = microarchitecture(&field("vendor_id"), &family, &model).map_or(String::new(), |c| format!(", {c}"));
    vec![
        format!(
            "CPU: {} (family {family}, model {model}{core}; {cpus} logical CPUs); flags: {}",
            field("model name"),
            present.join(" ")
        ),
        format!("kernels: {}", kernels.join(", ")),
        String::new(),
    ]
}

/// The AMD core generation of a `cpu family` / `model` pair (a VM's model name often
/// says only "AMD EPYC"), after AMD's family 19h/1Ah model ranges; `None` elsewhere.
/// Zen 4 runs 512-bit instructions as two 256-bit halves, Zen 5 at full width.
fn microarchitecture(vendor: &str, family: &str, model: &str) -> Option<&'static str> {
    if vendor != "AuthenticAMD" {
        return None;
    }
    let model: u32 = model.parse().ok()?;
    match family {
        "25" if matches!(model, 0x10..=0x1f | 0x60..=0x7f | 0xa0..=0xaf) => Some("Zen 4"),
        "25" => Some("Zen 3"),
        "26" => Some("Zen 5"),
        "23" => Some("Zen/Zen 2"),
        _ => None,
    }
}
