//! A llama-family decoder (Qwen2; Llama for SmolLM2) over GGUF quantized weights.
//!
//! Written against candle's primitives rather than `candle-transformers`' models because the
//! KV cache has to be a value of its own: the weights are shared read-only, and a cache can be
//! cloned (cheaply: tensors are reference-counted), cut back to a prefix, and resumed. That is
//! what prefix caching needs (see `prefix_cache.rs`), and the library models keep their cache
//! private inside the weights.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};

use super::gguf::GgufFile;
use super::q8_matmul::Q8Matrix;
use crate::EngineError;

/// Largest number of positions prefilled in one forward pass: bounds the attention matrix
/// (heads × chunk × context floats) for long prompts.
const PREFILL_CHUNK: usize = 256;

/// Positions the rotary tables are built for at most (Qwen's GGUF claims 32k).
const MAX_POSITIONS: usize = 32_768;

/// The decoder families this module implements, by GGUF `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// `qwen2`: attention biases, NeoX (half-split) rotary embedding.
    Qwen2,
    /// `llama` (SmolLM2 and friends): no biases, interleaved rotary embedding as GGUF stores it.
    Llama,
}

/// Shape hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Which decoder family.
    pub architecture: Architecture,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Hidden size.
    pub embedding: usize,
    /// Vocabulary size (rows of the embedding table).
    pub vocab: usize,
    /// Longest sequence the model (and our rotary tables) supports.
    pub max_positions: usize,
    rms_eps: f32,
}

/// Positions a cache's buffers grow by: a sequence copies its cache once every this many
/// tokens, and holds at most this many positions of room it has not used yet.
const KV_GROWTH: usize = 256;

/// Cached keys and values for a token sequence, one pair of buffers per layer:
/// `[1, kv_heads, capacity, head_dim]`, of which positions `..len` hold the sequence's.
///
/// A step writes its keys and values into the room after `len`, in place: copying the whole
/// cache to append one position (what concatenating tensors does) cost more than the attention
/// itself on long conversations. Cloning is cheap and shares the buffers; a clone that is about
/// to write into buffers another clone still holds copies them first (copy on write), so no
/// clone ever sees another's positions change.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
    /// One count per clone holding these buffers.
    holders: Arc<()>,
}

impl KvCache {
    /// Number of positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of the first `len` positions (sharing the buffers until one side writes).
    pub fn truncated(&self, len: usize) -> KvCache {
        KvCache {
            len: len.min(self.len),
            ..self.clone()
        }
    }

    #[cfg(test)]
    pub(crate) fn from_layers_for_test(layers: Vec<(Tensor, Tensor)>, len: usize) -> Self {
        Self {
            layers,
            len,
            holders: Arc::default(),
        }
    }

    /// Positions the buffers hold room for.
    fn capacity(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims()[2])
    }

    /// Makes room for `extra` more positions in buffers that no other clone holds.
    fn make_room(&mut self, extra: usize, config: &ModelConfig) -> candle_core::Result<()> {
        let needed = self.len + extra;
        let shared = Arc::strong_count(&self.holders) > 1;
        if !shared && needed <= self.capacity() {
            return Ok(());
        }
        let capacity = needed.next_multiple_of(KV_GROWTH);
        let grown = |buffer: Option<&Tensor>| -> candle_core::Result<Tensor> {
            let room = Tensor::zeros(
                (1, config.kv_heads, capacity - self.len, config.head_dim),
                DType::F32,
                &Device::Cpu,
            )?;
            match buffer {
                Some(buffer) if self.len > 0 => {
                    Tensor::cat(&[&buffer.narrow(2, 0, self.len)?, &room], 2)
                }
                _ => Ok(room),
            }
        };
        let layers = (0..config.layers)
            .map(|i| {
                let old = self.layers.get(i);
                Ok((grown(old.map(|(k, _)| k))?, grown(old.map(|(_, v)| v))?))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        self.layers = layers;
        self.holders = Arc::default();
        Ok(())
    }
}

/// Which attention projection.
#[derive(Clone, Copy)]
enum Part {
    Q,
    K,
    V,
}

/// A linear layer's quantized weights: our kernel for Q8_0 (see `q8_matmul.rs` for why), candle's
/// for every other type.
enum Weights {
    Q8(Q8Matrix),
    Candle(QMatMul),
}

impl Weights {
    fn new(tensor: QTensor) -> Result<Self, EngineError> {
        Ok(
            match Q8Matrix::from_qtensor(&tensor).map_err(candle_error)? {
                Some(q8) => Weights::Q8(q8),
                None => Weights::Candle(QMatMul::from_qtensor(tensor).map_err(candle_error)?),
            },
        )
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Weights::Q8(q8) => q8.forward(x),
            Weights::Candle(matmul) => matmul.forward(x),
        }
    }
}

struct Layer {
    attn_norm: Tensor,
    q: Weights,
    k: Weights,
    v: Weights,
    q_bias: Option<Tensor>,
    k_bias: Option<Tensor>,
    v_bias: Option<Tensor>,
    o: Weights,
    ffn_norm: Tensor,
    gate: Weights,
    up: Weights,
    down: Weights,
}

/// The model weights; `forward` takes `&self`, so one loaded model serves every conversation.
pub struct Decoder {
    config: ModelConfig,
    /// Token embeddings kept as f16: the f32 table of Qwen's 152k vocabulary would be 545 MB.
    embeddings: Tensor,
    layers: Vec<Layer>,
    norm: Tensor,
    output: Weights,
    cos: Tensor,
    sin: Tensor,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("config", &self.config)
            .finish()
    }
}

pub(crate) fn candle_error(e: candle_core::Error) -> EngineError {
    EngineError::Runtime {
        engine: "llm",
        reason: e.to_string(),
    }
}

impl Decoder {
    /// Loads the weights of a `qwen2` or `llama` GGUF file.
    pub(crate) fn load(gguf: &mut GgufFile) -> Result<Self, EngineError> {
        let arch_name = gguf.string("general.architecture")?.to_string();
        let architecture = match arch_name.as_str() {
            "qwen2" => Architecture::Qwen2,
            "llama" => Architecture::Llama,
            other => {
                return Err(gguf.invalid(format!(
                    "architecture `{other}` is not supported (qwen2 or llama)"
                )));
            }
        };
        let key = |k: &str| format!("{arch_name}.{k}");
        let layers_n = gguf.integer(&key("block_count"))? as usize;
        let heads = gguf.integer(&key("attention.head_count"))? as usize;
        let kv_heads = gguf.integer(&key("attention.head_count_kv"))? as usize;
        let embedding = gguf.integer(&key("embedding_length"))? as usize;
        let context = gguf.integer(&key("context_length"))? as usize;
        let rms_eps = gguf.float(&key("attention.layer_norm_rms_epsilon"))? as f32;
        let rope_base = gguf.float(&key("rope.freq_base")).unwrap_or(10_000.0);
        if heads == 0
            || kv_heads == 0
            || !embedding.is_multiple_of(heads)
            || !heads.is_multiple_of(kv_heads)
        {
            return Err(gguf.invalid(format!(
                "inconsistent shape: {heads} heads, {kv_heads} kv heads, width {embedding}"
            )));
        }
        let head_dim = embedding / heads;
        let max_positions = context.clamp(1, MAX_POSITIONS);

        let dequantize =
            |t: candle_core::quantized::QTensor| t.dequantize(&Device::Cpu).map_err(candle_error);
        let matmul = Weights::new;

        let embeddings = gguf
            .tensor("token_embd.weight")?
            .dequantize_f16(&Device::Cpu)
            .map_err(candle_error)?;
        let vocab = embeddings.dim(0).map_err(candle_error)?;
        let output = if gguf.has_tensor("output.weight") {
            matmul(gguf.tensor("output.weight")?)?
        } else {
            // Tied embeddings: the output projection is the (still quantized) embedding table.
            matmul(gguf.tensor("token_embd.weight")?)?
        };
        let norm = dequantize(gguf.tensor("output_norm.weight")?)?;

        let mut layers = Vec::with_capacity(layers_n);
        for i in 0..layers_n {
            let name = |part: &str| format!("blk.{i}.{part}");
            let bias = |gguf: &mut GgufFile, part: &str| -> Result<Option<Tensor>, EngineError> {
                let n = name(part);
                if gguf.has_tensor(&n) {
                    Ok(Some(dequantize(gguf.tensor(&n)?)?))
                } else {
                    Ok(None)
                }
            };
            layers.push(Layer {
                attn_norm: dequantize(gguf.tensor(&name("attn_norm.weight"))?)?,
                q: matmul(gguf.tensor(&name("attn_q.weight"))?)?,
                k: matmul(gguf.tensor(&name("attn_k.weight"))?)?,
                v: matmul(gguf.tensor(&name("attn_v.weight"))?)?,
                q_bias: bias(gguf, "attn_q.bias")?,
                k_bias: bias(gguf, "attn_k.bias")?,
                v_bias: bias(gguf, "attn_v.bias")?,
                o: matmul(gguf.tensor(&name("attn_output.weight"))?)?,
                ffn_norm: dequantize(gguf.tensor(&name("ffn_norm.weight"))?)?,
                gate: matmul(gguf.tensor(&name("ffn_gate.weight"))?)?,
                up: matmul(gguf.tensor(&name("ffn_up.weight"))?)?,
                down: matmul(gguf.tensor(&name("ffn_down.weight"))?)?,
            });
        }
        let (cos, sin) = rotary_tables(head_dim, rope_base, max_positions).map_err(candle_error)?;
        Ok(Self {
            config: ModelConfig {
                architecture,
                layers: layers_n,
                heads,
                kv_heads,
                head_dim,
                embedding,
                vocab,
                max_positions,
                rms_eps,
            },
            embeddings,
            layers,
            norm,
            output,
            cos,
            sin,
        })
    }

    /// The model's shape.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Runs `tokens` after the positions already in `cache`, appends their keys/values to it,
    /// and returns the logits (`[vocab]`, f32) for the token after the last one. Long inputs are
    /// processed in chunks. On error the cache is left as it was.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor, EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::InvalidInput("no tokens to run".into()));
        }
        if cache.len + tokens.len() > self.config.max_positions {
            return Err(EngineError::InvalidInput(format!(
                "{} positions exceed the model's {}",
                cache.len + tokens.len(),
                self.config.max_positions
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.config.vocab) {
            return Err(EngineError::InvalidInput(format!(
                "token id {bad} out of range"
            )));
        }
        let start = cache.len;
        let mut logits = None;
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            match self.forward_chunk(chunk, cache) {
                Ok(chunk_logits) => logits = Some(chunk_logits),
                Err(e) => {
                    // What was written past `start` is room again.
                    cache.len = start;
                    return Err(candle_error(e));
                }
            }
        }
        logits.ok_or_else(|| EngineError::InvalidInput("no tokens to run".into()))
    }

    /// Runs one decode step for several sequences at once: `tokens[i]` follows the positions in
    /// `caches[i]`. The projections and the MLP (the quantized matmuls, which dominate) run once
    /// on the stacked `[N, 1, hidden]` activations; attention runs per sequence over its own
    /// cache (the lengths differ). Returns the logits `[N, vocab]` (f32), row `i` for sequence
    /// `i`. Each row is computed exactly as a batch of one would compute it (the kernels work
    /// row by row), so batching never changes a sequence's tokens. On error no cache changes.
    pub fn forward_batch(
        &self,
        tokens: &[u32],
        caches: &mut [&mut KvCache],
    ) -> Result<Tensor, EngineError> {
        if tokens.is_empty() || tokens.len() != caches.len() {
            return Err(EngineError::InvalidInput(format!(
                "{} tokens for {} sequences",
                tokens.len(),
                caches.len()
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.config.vocab) {
            return Err(EngineError::InvalidInput(format!(
                "token id {bad} out of range"
            )));
        }
        if let Some(full) = caches
            .iter()
            .find(|c| c.len + 1 > self.config.max_positions)
        {
            return Err(EngineError::InvalidInput(format!(
                "{} positions exceed the model's {}",
                full.len + 1,
                self.config.max_positions
            )));
        }
        self.forward_rows(tokens, caches).map_err(candle_error)
    }

    /// One token per sequence: the batched decode step behind [`Decoder::forward_batch`].
    /// Each cache's length grows only once every layer is done, so an error leaves them as
    /// they were.
    fn forward_rows(
        &self,
        tokens: &[u32],
        caches: &mut [&mut KvCache],
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let n = tokens.len();
        for cache in caches.iter_mut() {
            cache.make_room(1, cfg)?;
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        // [N, 1, hidden]: N sequences of one position each.
        let mut x = self
            .embeddings
            .index_select(&ids, 0)?
            .to_dtype(DType::F32)?
            .unsqueeze(1)?;
        // Each sequence's rotary angles at its own position: [N, 1, head_dim / 2].
        let positions: Vec<u32> = caches.iter().map(|c| c.len as u32).collect();
        let positions = Tensor::new(positions.as_slice(), &Device::Cpu)?;
        let cos = self.cos.index_select(&positions, 0)?.unsqueeze(1)?;
        let sin = self.sin.index_select(&positions, 0)?.unsqueeze(1)?;

        for (i, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, cfg.rms_eps)?;
            let q = self.rotate(&self.project(layer, &h, Part::Q, n, 1)?, &cos, &sin)?;
            let k = self.rotate(&self.project(layer, &h, Part::K, n, 1)?, &cos, &sin)?;
            let v = self.project(layer, &h, Part::V, n, 1)?;
            let mut ys = Vec::with_capacity(n);
            for (s, cache) in caches.iter().enumerate() {
                ys.push(self.attend(
                    &q.narrow(0, s, 1)?,
                    &k.narrow(0, s, 1)?,
                    &v.narrow(0, s, 1)?,
                    &cache.layers[i],
                    cache.len,
                    None,
                )?);
            }
            let y = Tensor::cat(&ys, 0)?;
            x = self.mlp(layer, (layer.o.forward(&y)? + &x)?)?;
        }
        for cache in caches.iter_mut() {
            cache.len += 1;
        }
        let last = candle_nn::ops::rms_norm(&x.squeeze(1)?, &self.norm, cfg.rms_eps)?;
        self.output.forward(&last)?.to_dtype(DType::F32)
    }

    fn forward_chunk(&self, tokens: &[u32], cache: &mut KvCache) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let (seq, pos) = (tokens.len(), cache.len);
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self
            .embeddings
            .index_select(&ids, 0)?
            .to_dtype(DType::F32)?
            .unsqueeze(0)?;
        let mask = (seq > 1).then(|| causal_mask(seq, pos)).transpose()?;
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        cache.make_room(seq, cfg)?;

        for (i, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, cfg.rms_eps)?;
            let q = self.rotate(&self.project(layer, &h, Part::Q, 1, seq)?, &cos, &sin)?;
            let k = self.rotate(&self.project(layer, &h, Part::K, 1, seq)?, &cos, &sin)?;
            let v = self.project(layer, &h, Part::V, 1, seq)?;
            let y = self.attend(&q, &k, &v, &cache.layers[i], pos, mask.as_ref())?;
            x = self.mlp(layer, (layer.o.forward(&y)? + &x)?)?;
        }
        cache.len = pos + seq;

        let last = x.i((.., seq - 1, ..))?;
        let last = candle_nn::ops::rms_norm(&last, &self.norm, cfg.rms_eps)?;
        self.output.forward(&last)?.squeeze(0)?.to_dtype(DType::F32)
    }

    /// The query, key or value projection of `h` (`[batch, seq, hidden]`), split into heads:
    /// `[batch, heads, seq, head_dim]`.
    fn project(
        &self,
        layer: &Layer,
        h: &Tensor,
        part: Part,
        batch: usize,
        seq: usize,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let (w, b, heads) = match part {
            Part::Q => (&layer.q, &layer.q_bias, cfg.heads),
            Part::K => (&layer.k, &layer.k_bias, cfg.kv_heads),
            Part::V => (&layer.v, &layer.v_bias, cfg.kv_heads),
        };
        let mut t = w.forward(h)?;
        if let Some(b) = b {
            t = t.broadcast_add(b)?;
        }
        t.reshape((batch, seq, heads, cfg.head_dim))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Attention of one sequence: queries `[1, heads, seq, head_dim]` over the `past` positions
    /// of a layer's cache followed by the new `k`, `v` (`[1, kv_heads, seq, head_dim]`), which
    /// are written into the cache's room first. Returns the output `[1, seq, hidden]`.
    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        (keys, values): &(Tensor, Tensor),
        past: usize,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let seq = q.dim(2)?;
        keys.slice_set(k, 2, past)?;
        values.slice_set(v, 2, past)?;
        let context = past + seq;
        let (k, v) = (keys.narrow(2, 0, context)?, values.narrow(2, 0, context)?);
        // Grouped-query attention without copying keys and values for every query head: the
        // `group` query heads that share a key/value head (heads kv·group .. kv·group + group)
        // become `group · seq` rows of one matrix product against that head's keys.
        let group = cfg.heads / cfg.kv_heads;
        let q = q.reshape((1, cfg.kv_heads, group * seq, cfg.head_dim))?;
        let scale = 1.0 / (cfg.head_dim as f64).sqrt();
        let mut att = (q.matmul(&k.t()?)? * scale)?;
        if let Some(mask) = mask {
            let rows = (1, cfg.kv_heads, group, seq, context);
            let neg_inf = Tensor::new(f32::NEG_INFINITY, &Device::Cpu)?.broadcast_as(rows)?;
            att = mask
                .broadcast_as(rows)?
                .where_cond(&neg_inf, &att.reshape(rows)?)?
                .reshape((1, cfg.kv_heads, group * seq, context))?;
        }
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att
            .matmul(&v)?
            .reshape((1, cfg.heads, seq, cfg.head_dim))?
            .transpose(1, 2)?
            .reshape((1, seq, cfg.heads * cfg.head_dim))?;
        Ok(y)
    }

    /// The feed-forward block with its residual, on `x` after attention.
    fn mlp(&self, layer: &Layer, x: Tensor) -> candle_core::Result<Tensor> {
        let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, self.config.rms_eps)?;
        let gated = (candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
        layer.down.forward(&gated)? + &x
    }

    fn rotate(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        match self.config.architecture {
            Architecture::Qwen2 => candle_nn::rotary_emb::rope(x, cos, sin),
            // llama.cpp's converter permutes Llama's q/k weights for interleaved rotation.
            Architecture::Llama => candle_nn::rotary_emb::rope_i(x, cos, sin),
        }
    }
}

/// cos/sin tables `[positions, head_dim / 2]` of the rotary position embedding.
fn rotary_tables(
    head_dim: usize,
    base: f64,
    positions: usize,
) -> candle_core::Result<(Tensor, Tensor)> {
    let inv_freq: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| (1.0 / base.powf(i as f64 / head_dim as f64)) as f32)
        .collect();
    let inv_freq = Tensor::new(inv_freq.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
    let t = Tensor::arange(0u32, positions as u32, &Device::Cpu)?
        .to_dtype(DType::F32)?
        .unsqueeze(1)?;
    let angles = t.broadcast_mul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// `[seq, past + seq]`, 1 where query `i` (at position `past + i`) must not see key `j`.
fn causal_mask(seq: usize, past: usize) -> candle_core::Result<Tensor> {
    let mask: Vec<u8> = (0..seq)
        .flat_map(|i| (0..past + seq).map(move |j| u8::from(j > past + i)))
        .collect();
    Tensor::from_slice(&mask, (seq, past + seq), &Device::Cpu)
}
