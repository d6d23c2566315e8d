//! `--device auto|cpu|cuda[:N]|metal` → a candle [`Device`].

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use super::error::{ModelError, Result};

/// The device a user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// CUDA device 0 if built with `cuda` and present, else Metal if built with `metal`,
    /// else CPU.
    Auto,
    /// The CPU (F32; the default).
    #[default]
    Cpu,
    /// CUDA device N (needs the `cuda` Cargo feature).
    Cuda(usize),
    /// Apple Metal (needs the `metal` Cargo feature).
    Metal,
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            "metal" => Ok(Self::Metal),
            other => match other.strip_prefix("cuda:").map(str::parse) {
                Some(Ok(n)) => Ok(Self::Cuda(n)),
                _ => Err(format!("unknown device `{s}` (expected auto, cpu, cuda, cuda:N or metal)")),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Metal => f.write_str("metal"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device.
    ///
    /// Errors: [`ModelError::Device`] when this build lacks the backend's feature or
    /// the machine lacks the device.
    pub fn open(self) -> Result<Device> {
        let device = match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => Device::new_cuda(n),
            Self::Metal => Device::new_metal(0),
            Self::Auto => {
                if candle_core::utils::cuda_is_available() {
                    Device::new_cuda(0)
                } else if candle_core::utils::metal_is_available() {
                    Device::new_metal(0)
                } else {
                    Ok(Device::Cpu)
                }
            }
        };
        device.map_err(|e| ModelError::Device(format!("{self}: {e}")))
    }
}

/// A short name of an opened device for `/models` and logs: `cpu`, `cuda:0`, `metal`.
pub fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            _ => "cuda".into(),
        },
        Device::Metal(_) => "metal".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!("CPU".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
    }

    #[test]
    fn cpu_always_opens_and_auto_falls_back_to_cpu_without_accelerators() {
        assert!(DeviceSpec::Cpu.open().unwrap().is_cpu());
        if !candle_core::utils::cuda_is_available() && !candle_core::utils::metal_is_available() {
            assert!(DeviceSpec::Auto.open().unwrap().is_cpu());
        }
    }
}
