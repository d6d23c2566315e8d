//! The building blocks families share: [`Linear`] and [`LayerNorm`], which run the CPU
//! kernels (`super::kernels`) on the packed path and candle ops elsewhere.

pub mod grid;
pub mod layer_norm;
pub mod linear;

pub use grid::Grid;
pub use layer_norm::LayerNorm;
pub use linear::Linear;
