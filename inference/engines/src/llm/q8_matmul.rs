//! Our own matrix product for Q8_0 weights: `x · Wᵀ` with the activations quantized to Q8_0
//! per row, as ggml and candle do it, computed on AVX2 four weight rows at a time.
//!
//! Why not candle's kernel: on an AVX2-only CPU candle 0.11 computes a Q8_0 product as one
//! separate dot product per (activation row, weight row) and converts both f16 scales of every
//! block in software; its repacked fast path is reserved for AVX-512 VNNI. It runs
//! compute-bound, so a batch of N rows costs N times one row (batched decoding gained nothing)
//! and prefill ran at decode speed. This kernel repacks the weights so a group of four rows is
//! one stream, converts scales with F16C, and reads each group once for all activation rows:
//! prefill 2.9× and 4 batched sequences 2.3× faster than candle on Qwen2.5-0.5B Q8_0
//! (docs/benchmarks/llm.md).
//!
//! Results are bit-identical to candle's AVX2 path: the same Q8_0 activations (scale rounded
//! to f16), the same per-block integer dot products, the same 8-lane f32 accumulation in block
//! order and the same horizontal sum. Each output depends only on its own activation row, so a
//! row gives the same logits alone or in a batch.
//!
//! The SIMD code is the only unsafe code of the engine; every block says why it holds.
#![allow(unsafe_code)]

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Shape, Tensor};
use half::f16;

/// Values per Q8_0 block (one scale each).
const BLOCK: usize = 32;

/// Weight rows stored and computed together: one work item of the thread pool.
const GROUP: usize = 4;

/// Bytes of one block of a group: the four rows' f16 scales, then their four 32-value blocks.
const GROUP_BLOCK_BYTES: usize = GROUP * 2 + GROUP * BLOCK;

/// A Q8_0 weight matrix `[rows, cols]` (a linear layer's `[out, in]`), repacked from GGUF's
/// row-major 34-byte blocks so that the four rows of a group are one sequential stream:
/// block 0 of rows 0–3 (scales, then values), block 1 of rows 0–3, … Reading one stream per
/// group instead of four made decoding from memory 1.3× faster here; the size is unchanged.
pub(crate) struct Q8Matrix {
    rows: usize,
    cols: usize,
    packed: Vec<u8>,
}

impl Q8Matrix {
    /// Repacks a 2-D Q8_0 tensor whose height is a multiple of four (every matrix of the
    /// models we ship); `None` for any other type or shape, which keeps candle's kernel.
    pub(crate) fn from_qtensor(tensor: &QTensor) -> candle_core::Result<Option<Self>> {
        if tensor.dtype() != GgmlDType::Q8_0 {
            return Ok(None);
        }
        let Ok((rows, cols)) = tensor.shape().dims2() else {
            return Ok(None);
        };
        if !cols.is_multiple_of(BLOCK) || !rows.is_multiple_of(GROUP) {
            return Ok(None);
        }
        let data = tensor.data()?;
        let blocks = cols / BLOCK;
        let gguf_block = 2 + BLOCK;
        if data.len() != rows * blocks * gguf_block {
            candle_core::bail!(
                "Q8_0 tensor of {rows}×{cols} holds {} bytes, not {}",
                data.len(),
                rows * blocks * gguf_block
            );
        }
        let source = |row: usize, b: usize| &data[(row * blocks + b) * gguf_block..][..gguf_block];
        let mut packed = Vec::with_capacity(rows * blocks * gguf_block);
        for group in 0..rows / GROUP {
            for b in 0..blocks {
                let rows = (0..GROUP).map(|j| source(group * GROUP + j, b));
                rows.clone()
                    .for_each(|block| packed.extend_from_slice(&block[..2]));
                rows.for_each(|block| packed.extend_from_slice(&block[2..]));
            }
        }
        Ok(Some(Self { rows, cols, packed }))
    }

    /// `x · Wᵀ` for `x` of shape `[…, cols]` (f32): the result has shape `[…, rows]`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        if dims.last() != Some(&self.cols) {
            candle_core::bail!(
                "Q8_0 matmul: input {dims:?} for a weight of width {}",
                self.cols
            );
        }
        let input = x.flatten_all()?.to_vec1::<f32>()?;
        let activations = QuantizedRows::new(&input, self.cols);
        let mut out = vec![0f32; activations.rows * self.rows];
        self.matmul(&activations, &mut out);
        let mut out_dims = dims.to_vec();
        *out_dims.last_mut().expect("checked above") = self.rows;
        Tensor::from_vec(out, Shape::from(out_dims), x.device())
    }

    /// One group's blocks, in order.
    fn group(&self, group: usize) -> &[u8] {
        let len = self.cols / BLOCK * GROUP_BLOCK_BYTES;
        &self.packed[group * len..][..len]
    }

    /// Fills `out` (`[x.rows, self.rows]`, row-major) with the products.
    fn matmul(&self, x: &QuantizedRows, out: &mut [f32]) {
        assert_eq!(out.len(), x.rows * self.rows, "output size");
        let out_addr = out.as_mut_ptr() as usize;
        let simd = has_avx2();
        candle_core::utils::barrier_pool().execute_chunked(self.rows / GROUP, |range| {
            for group in range {
                for row in 0..x.rows {
                    let dots = if simd {
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: AVX2, FMA and F16C were detected at run time.
                        unsafe {
                            avx2::dot_group(self.group(group), x.row(row))
                        }
                        #[cfg(not(target_arch = "x86_64"))]
                        unreachable!("no SIMD path on this architecture")
                    } else {
                        scalar_dot_group(self.group(group), x.row(row))
                    };
                    // SAFETY: `out` outlives the pool call, which returns only when every work
                    // item is done; the four elements (row, 4·group..4·group + 4) are written by
                    // this group's work item alone, so no two threads write the same element.
                    unsafe {
                        let dst = (out_addr as *mut f32).add(row * self.rows + group * GROUP);
                        std::ptr::copy_nonoverlapping(dots.as_ptr(), dst, GROUP);
                    }
                }
            }
        });
    }
}

/// Activation rows quantized to Q8_0 exactly as ggml's `quantize_row_q8_0` (and candle's
/// `from_float`) does: scale `max|x| / 127`, values rounded with the unrounded scale, the
/// stored scale rounded to f16.
struct QuantizedRows {
    rows: usize,
    quants: Vec<i8>,
    scales: Vec<f32>,
}

/// One activation row: its values and its block scales.
#[derive(Clone, Copy)]
struct Row<'a> {
    quants: &'a [i8],
    scales: &'a [f32],
}

impl QuantizedRows {
    fn row(&self, row: usize) -> Row<'_> {
        let cols = self.quants.len() / self.rows;
        Row {
            quants: &self.quants[row * cols..][..cols],
            scales: &self.scales[row * cols / BLOCK..][..cols / BLOCK],
        }
    }

    fn new(x: &[f32], cols: usize) -> Self {
        let mut quants = vec![0i8; x.len()];
        let mut scales = Vec::with_capacity(x.len() / BLOCK);
        for (values, q) in x.chunks_exact(BLOCK).zip(quants.chunks_exact_mut(BLOCK)) {
            let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inverse = if scale == 0.0 { 0.0 } else { 1.0 / scale };
            for (q, v) in q.iter_mut().zip(values) {
                *q = (v * inverse).round() as i8;
            }
            scales.push(f16::from_f32(scale).to_f32());
        }
        Self {
            rows: x.len() / cols,
            quants,
            scales,
        }
    }
}

/// A group's four dot products without SIMD (CPUs without AVX2): the same sums, accumulated
/// in the same lane order as the AVX2 path, so both give the same bits.
fn scalar_dot_group(group: &[u8], x: Row<'_>) -> [f32; GROUP] {
    let mut lanes = [[0f32; 8]; GROUP];
    for ((block, xq), &x_scale) in group
        .chunks_exact(GROUP_BLOCK_BYTES)
        .zip(x.quants.chunks_exact(BLOCK))
        .zip(x.scales)
    {
        let (scales, quants) = block.split_at(GROUP * 2);
        for (j, lanes) in lanes.iter_mut().enumerate() {
            let w_scale = f16::from_le_bytes([scales[2 * j], scales[2 * j + 1]]).to_f32();
            let scale = w_scale * x_scale;
            let wq = &quants[j * BLOCK..][..BLOCK];
            for (lane, sum) in lanes.iter_mut().enumerate() {
                let dot: i32 = (lane * 4..lane * 4 + 4)
                    .map(|i| i32::from(wq[i] as i8) * i32::from(xq[i]))
                    .sum();
                *sum = scale.mul_add(dot as f32, *sum);
            }
        }
    }
    // The AVX2 path's horizontal sum: high half onto low half, then pairs.
    lanes.map(|l| {
        let quad: [f32; 4] = std::array::from_fn(|i| l[i] + l[i + 4]);
        (quad[0] + quad[2]) + (quad[1] + quad[3])
    })
}

fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BLOCK, GROUP, GROUP_BLOCK_BYTES, Row};
    use std::arch::x86_64::*;

    /// The dot products of one activation row with a group's four weight rows.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn dot_group(group: &[u8], x: Row<'_>) -> [f32; GROUP] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); GROUP];
        for ((block, xq), &x_scale) in group
            .chunks_exact(GROUP_BLOCK_BYTES)
            .zip(x.quants.chunks_exact(BLOCK))
            .zip(x.scales)
        {
            // SAFETY: `block` holds 8 scale bytes then 4 × 32 values; `xq` holds 32 values.
            let (w_scales, a) = unsafe {
                (
                    _mm_cvtph_ps(_mm_loadl_epi64(block.as_ptr().cast())),
                    _mm256_loadu_si256(xq.as_ptr().cast()),
                )
            };
            let mut scales = [0f32; GROUP];
            // SAFETY: `scales` has room for four f32.
            unsafe {
                _mm_storeu_ps(
                    scales.as_mut_ptr(),
                    _mm_mul_ps(w_scales, _mm_set1_ps(x_scale)),
                )
            };
            // maddubs multiplies unsigned by signed bytes: |a| times w with a's sign. Pairs
            // cannot saturate: Q8_0 values lie in -127..=127, so a pair is at most 32258.
            let abs_a = _mm256_sign_epi8(a, a);
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: row j's 32 values follow the scales, inside `block`.
                let w =
                    unsafe { _mm256_loadu_si256(block[GROUP * 2 + j * BLOCK..].as_ptr().cast()) };
                let products = _mm256_maddubs_epi16(abs_a, _mm256_sign_epi8(w, a));
                let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
                *acc = _mm256_fmadd_ps(_mm256_set1_ps(scales[j]), sums, *acc);
            }
        }
        acc.map(|v| horizontal_sum(v))
    }

    #[target_feature(enable = "avx2,fma")]
    fn horizontal_sum(v: __m256) -> f32 {
        let quad = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
        let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::QMatMul;
    use candle_core::{Device, Module};

    fn weights(rows: usize, cols: usize) -> QTensor {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 3.0)
            .collect();
        let t = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
        QTensor::quantize(&t, GgmlDType::Q8_0).unwrap()
    }

    fn input(rows: usize, cols: usize, seed: usize) -> Tensor {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| (((i + seed) * 104_729 % 997) as f32 / 997.0 - 0.5) * 8.0)
            .collect();
        Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_candles_q8_0_matmul_bit_for_bit() {
        let q = weights(132, 96);
        let ours = Q8Matrix::from_qtensor(&q).unwrap().expect("a Q8_0 matrix");
        let theirs = QMatMul::from_qtensor(q).unwrap();
        for rows in [1, 3, 8] {
            let x = input(rows, 96, rows);
            let got = ours.forward(&x).unwrap();
            let want = theirs.forward(&x).unwrap();
            assert_eq!(got.dims(), &[rows, 132]);
            let (got, want) = (
                got.to_vec2::<f32>().unwrap(),
                want.to_vec2::<f32>().unwrap(),
            );
            if has_avx2() {
                assert_eq!(got, want, "{rows} rows");
            } else {
                // candle's scalar fallback sums in another order: equal up to rounding.
                for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
                    assert!((g - w).abs() <= 1e-3 * w.abs().max(1.0), "{g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn a_row_gives_the_same_result_alone_and_in_a_batch() {
        let ours = Q8Matrix::from_qtensor(&weights(64, 64)).unwrap().unwrap();
        let batch = input(5, 64, 11);
        let together = ours.forward(&batch).unwrap().to_vec2::<f32>().unwrap();
        for (i, row) in together.iter().enumerate() {
            let alone = ours.forward(&batch.narrow(0, i, 1).unwrap()).unwrap();
            assert_eq!(&alone.to_vec2::<f32>().unwrap()[0], row, "row {i}");
        }
    }

    #[test]
    fn the_scalar_path_sums_like_the_simd_path() {
        let ours = Q8Matrix::from_qtensor(&weights(8, 128)).unwrap().unwrap();
        let x = input(2, 128, 3);
        let rows = QuantizedRows::new(&x.flatten_all().unwrap().to_vec1().unwrap(), 128);
        let simd = ours.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        for (r, row) in simd.iter().enumerate() {
            for group in 0..2 {
                let scalar = scalar_dot_group(ours.group(group), rows.row(r));
                assert_eq!(
                    scalar,
                    row[group * GROUP..][..GROUP],
                    "row {r}, group {group}"
                );
            }
        }
    }

    #[test]
    fn keeps_candle_for_other_types_and_refuses_a_wrong_width() {
        let t = Tensor::zeros((4, 256), candle_core::DType::F32, &Device::Cpu).unwrap();
        let q4 = QTensor::quantize(&t, GgmlDType::Q4K).unwrap();
        assert!(Q8Matrix::from_qtensor(&q4).unwrap().is_none());
        // A height that is not a multiple of four stays with candle too.
        assert!(Q8Matrix::from_qtensor(&weights(6, 64)).unwrap().is_none());
        let ours = Q8Matrix::from_qtensor(&weights(4, 64)).unwrap().unwrap();
        let error = ours.forward(&input(1, 32, 0)).unwrap_err().to_string();
        assert!(error.contains("width 64"), "{error}");
    }

    #[test]
    fn keeps_leading_dimensions() {
        let ours = Q8Matrix::from_qtensor(&weights(8, 32)).unwrap().unwrap();
        let x = input(6, 32, 1).reshape((2, 3, 32)).unwrap();
        assert_eq!(ours.forward(&x).unwrap().dims(), &[2, 3, 8]);
    }
}
