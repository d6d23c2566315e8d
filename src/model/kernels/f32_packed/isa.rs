//! Which instruction set the packed f32 kernel runs on: detected once, chosen for the
//! model's layers (or overridden by `SENTISERVE_F32_KERNEL`), named for `GET /models`.

use std::sync::OnceLock;

/// The environment variable that overrides [`F32Isa::chosen`].
const KERNEL_VAR: &str = "SENTISERVE_F32_KERNEL";

/// The instruction set a packed f32 product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F32Isa {
    /// AVX-512F (`vfmadd231ps` on 16 lanes, the activation broadcast from memory).
    Avx512F,
    /// AVX2 + FMA (`vfmadd231ps` on 8 lanes).
    Avx2Fma,
    /// Plain Rust with `f32::mul_add`: the bit-exact reference of every vector path
    /// (the model uses gemm on CPUs without AVX2 + FMA, never this).
    Reference,
}

impl F32Isa {
    /// The vector path this CPU runs, if any (detected once).
    pub fn detect() -> Option<Self> {
        static ISA: OnceLock<Option<F32Isa>> = OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Some(F32Isa::Avx512F);
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    return Some(F32Isa::Avx2Fma);
                }
            }
            None
        })
    }

    /// Panels one tile of `rows` rows takes on this path: on AVX-512 enough that
    /// `rows × panels ≥ 8` sums are in flight (two FMA units, four cycles each), so a
    /// product of a few rows is not bound by one chain's latency.
    pub(super) fn panels_per_tile(self, rows: usize) -> usize {
        match (self, rows) {
            (Self::Avx512F, 1) => 8,
            (Self::Avx512F, 2) => 4,
            (Self::Avx512F, 3) => 3,
            (Self::Avx512F, 4..=7) => 2,
            _ => 1,
        }
    }

    /// Rows of one micro-kernel tile on this path.
    pub(super) fn tile_rows(self) -> usize {
        match self {
            Self::Avx512F => 12,
            Self::Avx2Fma | Self::Reference => 6,
        }
    }

    /// Whether the model packs its f32 weights, and for which path: the detected one
    /// (`examples/matmul_shapes.rs` compares every path with gemm on any CPU). On a
    /// Zen 3 (AVX2, 2 cores) the AVX2 tile ran MiniLM's and distilbert's products
    /// 1.5–3.5× faster than gemm at 23 rows and within 5% at 600; on a Zen 5 (2 cores)
    /// the AVX-512 tile ran them at 400–450 GFLOP/s against gemm's 310–465, and a
    /// 23-token MiniLM forward took 2.16–2.28 ms against gemm's 2.43–2.52.
    ///
    /// `SENTISERVE_F32_KERNEL` overrides the choice, for comparisons: `f32-gemm`, or a
    /// path's [`name`](Self::name) that this CPU runs (`f32-packed-avx512`,
    /// `f32-packed-avx2`); any other value is ignored with a warning.
    pub fn chosen() -> Option<Self> {
        static CHOSEN: OnceLock<Option<F32Isa>> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            if let Ok(name) = std::env::var(KERNEL_VAR) {
                match Self::by_name(&name) {
                    Ok(choice) => return choice,
                    Err(why) => tracing::warn!("{KERNEL_VAR}={name} ignored: {why}"),
                }
            }
            Self::detect()
        })
    }

    /// The choice `name` asks for (`None`: gemm).
    ///
    /// Errors: a name of no path, or of a path this CPU cannot run.
    pub(super) fn by_name(name: &str) -> Result<Option<Self>, &'static str> {
        if name == "f32-gemm" {
            return Ok(None);
        }
        match [Self::Avx512F, Self::Avx2Fma].into_iter().find(|isa| isa.name() == name) {
            Some(isa) if isa.available() => Ok(Some(isa)),
            Some(_) => Err("this CPU cannot run it"),
            None => Err("not f32-gemm, f32-packed-avx512 or f32-packed-avx2"),
        }
    }

    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Self::Reference => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512F => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512F | Self::Avx2Fma => false,
        }
    }

    /// The path's name, as `GET /models` and `make bench` report it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512F => "f32-packed-avx512",
            Self::Avx2Fma => "f32-packed-avx2",
            Self::Reference => "f32-packed-reference",
        }
    }
}
