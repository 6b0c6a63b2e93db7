//! What to synthesize: [`ResNeXtConfig`] (depth × cardinality × width, input size, classes,
//! BN folding, weights, seed, batch) and [`parse_config_list`] for `CxDd` lists such as
//! `1x64d,32x4d`.

use super::SynthError;

/// What to synthesize. `Default` is ResNeXt-50 32×4d with random weights, seed 0, batch `N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResNeXtConfig {
    /// 50, 101 or 152.
    pub depth: u32,
    /// C, the number of groups of every 3×3 conv.
    pub cardinality: u32,
    /// D, the bottleneck width of one group in the first stage (doubles each stage).
    pub width: u32,
    /// Input height = width, in pixels.
    pub input: u32,
    /// Output classes of the final Gemm.
    pub classes: u32,
    /// Fold each BatchNormalization into the conv before it (weight scaled, bias added).
    pub fold_bn: bool,
    /// Generate random float32 weights; `false` marks every initializer as absent.
    pub weights: bool,
    /// Seed of the weight generator.
    pub seed: u64,
    /// Fixed batch size; `None` writes the symbolic dimension `N`.
    pub batch: Option<u64>,
}

impl Default for ResNeXtConfig {
    fn default() -> Self {
        Self::resnext(50, 32, 4)
    }
}

impl ResNeXtConfig {
    /// ResNeXt-`depth` C×Dd with the other fields at their defaults.
    pub fn resnext(depth: u32, cardinality: u32, width: u32) -> Self {
        Self {
            depth,
            cardinality,
            width,
            input: 224,
            classes: 1000,
            fold_bn: false,
            weights: true,
            seed: 0,
            batch: None,
        }
    }

    /// Plain ResNet-`depth` (C = 1, D = 64).
    pub fn resnet(depth: u32) -> Self {
        Self::resnext(depth, 1, 64)
    }

    /// torchvision's model name: `resnet50`, `wide_resnet50_2`, `resnext101_32x8d`, …
    pub fn arch_name(&self) -> String {
        match (self.cardinality, self.width) {
            (1, 64) => format!("resnet{}", self.depth),
            (1, 128) => format!("wide_resnet{}_2", self.depth),
            (c, d) => format!("resnext{}_{c}x{d}d", self.depth),
        }
    }

    /// Bottleneck blocks per stage.
    pub fn layers(&self) -> Result<[u32; 4], SynthError> {
        match self.depth {
            50 => Ok([3, 4, 6, 3]),
            101 => Ok([3, 4, 23, 3]),
            152 => Ok([3, 8, 36, 3]),
            d => Err(SynthError::UnsupportedDepth(d)),
        }
    }

    pub(super) fn validate(&self) -> Result<[u32; 4], SynthError> {
        let layers = self.layers()?;
        let bad = |field, value: u64, reason| SynthError::InvalidConfig {
            field,
            value,
            reason,
        };
        if self.cardinality == 0 {
            return Err(bad("cardinality", 0, "must be at least 1"));
        }
        if self.width == 0 {
            return Err(bad("width", 0, "must be at least 1"));
        }
        // The widest conv has 8·C·D channels; keep every element count far inside i64.
        let widest = 8 * u64::from(self.cardinality) * u64::from(self.width);
        if widest > 1 << 20 {
            return Err(bad(
                "cardinality × width",
                widest / 8,
                "must be at most 131072",
            ));
        }
        if self.input == 0 || self.input > 1 << 16 {
            return Err(bad(
                "input",
                self.input.into(),
                "must be between 1 and 65536",
            ));
        }
        if self.classes == 0 || self.classes > 1 << 24 {
            return Err(bad(
                "classes",
                self.classes.into(),
                "must be between 1 and 16777216",
            ));
        }
        if self.batch == Some(0) || self.batch.is_some_and(|b| b > i64::MAX as u64) {
            return Err(bad("batch", self.batch.unwrap_or(0), "must be at least 1"));
        }
        Ok(layers)
    }
}

/// Parses a comma-separated list of `CxDd` items (`1x64d,2x40d,32x4d`; the trailing `d` is
/// optional, `X` is accepted, blanks around items are ignored) into `(cardinality, width)`.
pub fn parse_config_list(list: &str) -> Result<Vec<(u32, u32)>, SynthError> {
    let bad = |item: &str, reason| SynthError::BadConfigList {
        item: item.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for raw in list.split(',') {
        let item = raw.trim();
        if item.is_empty() {
            return Err(bad(raw, "empty item"));
        }
        let lower = item.to_ascii_lowercase();
        let body = lower.strip_suffix('d').unwrap_or(&lower);
        let (c, d) = body.split_once('x').ok_or_else(|| bad(item, "no 'x'"))?;
        let num = |s: &str| -> Result<u32, SynthError> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(item, "not a positive integer"));
            }
            match s.parse::<u32>() {
                Ok(0) => Err(bad(item, "must be at least 1")),
                Ok(v) => Ok(v),
                Err(_) => Err(bad(item, "number too large")),
            }
        };
        out.push((num(c)?, num(d)?));
    }
    Ok(out)
}
