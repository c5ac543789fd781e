//! Reading a GGUF file: its metadata and tensors, with errors that name the file.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};

use crate::EngineError;

/// An opened GGUF file: parsed header plus a reader positioned anywhere (tensors are read by
/// offset).
pub(crate) struct GgufFile {
    pub(crate) path: PathBuf,
    pub(crate) content: Content,
    pub(crate) reader: BufReader<File>,
}

impl GgufFile {
    /// Opens and parses the header; tensor data stays on disk until read.
    pub(crate) fn open(path: &Path) -> Result<Self, EngineError> {
        let file = File::open(path).map_err(|e| EngineError::ModelNotFound {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| EngineError::InvalidModel {
            path: path.display().to_string(),
            reason: format!("not a readable GGUF file: {e}"),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            content,
            reader,
        })
    }

    /// An error about this file's contents.
    pub(crate) fn invalid(&self, reason: impl std::fmt::Display) -> EngineError {
        EngineError::InvalidModel {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// A metadata value, or an error naming the missing key.
    pub(crate) fn value(&self, key: &str) -> Result<&Value, EngineError> {
        self.content
            .metadata
            .get(key)
            .ok_or_else(|| self.invalid(format!("missing metadata key `{key}`")))
    }

    /// A string metadata value.
    pub(crate) fn string(&self, key: &str) -> Result<&str, EngineError> {
        self.value(key)?
            .to_string()
            .map(String::as_str)
            .map_err(|e| self.invalid(format!("`{key}`: {e}")))
    }

    /// An integer metadata value of any width.
    pub(crate) fn integer(&self, key: &str) -> Result<u64, EngineError> {
        let value = self.value(key)?;
        let number = match value {
            Value::U8(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        };
        number.ok_or_else(|| self.invalid(format!("`{key}` is not a non-negative integer")))
    }

    /// A float metadata value.
    pub(crate) fn float(&self, key: &str) -> Result<f64, EngineError> {
        match self.value(key)? {
            Value::F32(v) => Ok(f64::from(*v)),
            Value::F64(v) => Ok(*v),
            _ => Err(self.invalid(format!("`{key}` is not a float"))),
        }
    }

    /// An array of strings (token lists, merges).
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, EngineError> {
        let items = self
            .value(key)?
            .to_vec()
            .map_err(|e| self.invalid(format!("`{key}`: {e}")))?;
        items
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|e| self.invalid(format!("`{key}` element: {e}")))
            })
            .collect()
    }

    /// An array of integers (token types).
    pub(crate) fn integers(&self, key: &str) -> Result<Vec<i64>, EngineError> {
        let items = self
            .value(key)?
            .to_vec()
            .map_err(|e| self.invalid(format!("`{key}`: {e}")))?;
        items
            .iter()
            .map(|v| match v {
                Value::I32(x) => Ok(i64::from(*x)),
                Value::U32(x) => Ok(i64::from(*x)),
                Value::I64(x) => Ok(*x),
                Value::U8(x) => Ok(i64::from(*x)),
                Value::I8(x) => Ok(i64::from(*x)),
                _ => Err(self.invalid(format!("`{key}` element is not an integer"))),
            })
            .collect()
    }

    /// Reads one tensor (quantized as stored) onto the CPU.
    pub(crate) fn tensor(
        &mut self,
        name: &str,
    ) -> Result<candle_core::quantized::QTensor, EngineError> {
        let path = self.path.display().to_string();
        self.content
            .tensor(&mut self.reader, name, &candle_core::Device::Cpu)
            .map_err(|e| EngineError::InvalidModel {
                path,
                reason: format!("tensor `{name}`: {e}"),
            })
    }

    /// Whether a tensor is present (for optional tensors such as an untied `output.weight`).
    pub(crate) fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }
}
