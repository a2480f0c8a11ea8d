//! Vector fields: how a `Vec<f32>`, `Vec<f64>`, `[f32; N]` or `[f64; N]` is
//! stored (a hash holds the little-endian packed floats of the declared
//! element type; a JSON document holds an array of numbers) and indexed
//! (`VECTOR FLAT|HNSW … TYPE FLOAT32|FLOAT64 DIM n DISTANCE_METRIC …`).

use crate::value::{HashArg, HashValue};

/// The element type of a vector field: `FLOAT32` or `FLOAT64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VectorType {
    /// `f32` elements (`TYPE FLOAT32`).
    Float32,
    /// `f64` elements (`TYPE FLOAT64`).
    Float64,
}

impl VectorType {
    /// The name in the schema (`FLOAT32`, `FLOAT64`).
    pub fn as_str(self) -> &'static str {
        match self {
            VectorType::Float32 => "FLOAT32",
            VectorType::Float64 => "FLOAT64",
        }
    }
}

/// The index algorithm of a vector field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VectorAlgorithm {
    /// Brute force: exact nearest neighbours (`FLAT`).
    Flat,
    /// Hierarchical navigable small world graphs: approximate, faster on
    /// large sets (`HNSW`).
    Hnsw,
}

/// How distance between vectors is measured; smaller is nearer for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DistanceMetric {
    /// `1 - cos(a, b)` (`COSINE`).
    Cosine,
    /// Euclidean distance, as RediSearch reports it: the squared distance
    /// (`L2`).
    L2,
    /// `1 - a·b` (`IP`, inner product).
    InnerProduct,
}

impl DistanceMetric {
    /// The name in the schema (`COSINE`, `L2`, `IP`).
    pub fn as_str(self) -> &'static str {
        match self {
            DistanceMetric::Cosine => "COSINE",
            DistanceMetric::L2 => "L2",
            DistanceMetric::InnerProduct => "IP",
        }
    }
}

/// The index options of a vector field, from
/// `#[redis_om(vector(algorithm = "flat", dim = 4, distance = "cosine", …))]`.
///
/// ```
/// use redis_om::{DistanceMetric, VectorAlgorithm, VectorOptions, VectorType};
/// let options = VectorOptions::new(VectorAlgorithm::Hnsw, VectorType::Float32, 768, DistanceMetric::Cosine)
///     .with_m(16)
///     .with_ef_construction(200);
/// assert_eq!(options.dim(), 768);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VectorOptions {
    algorithm: VectorAlgorithm,
    element: VectorType,
    dim: usize,
    distance: DistanceMetric,
    initial_cap: Option<u64>,
    block_size: Option<u64>,
    m: Option<u64>,
    ef_construction: Option<u64>,
    ef_runtime: Option<u64>,
    /// As written in the attribute (`0.01`), so the schema text is exact.
    epsilon: Option<&'static str>,
}

impl VectorOptions {
    /// The required options.
    pub const fn new(
        algorithm: VectorAlgorithm,
        element: VectorType,
        dim: usize,
        distance: DistanceMetric,
    ) -> Self {
        VectorOptions {
            algorithm,
            element,
            dim,
            distance,
            initial_cap: None,
            block_size: None,
            m: None,
            ef_construction: None,
            ef_runtime: None,
            epsilon: None,
        }
    }

    /// `INITIAL_CAP`.
    pub const fn with_initial_cap(mut self, n: u64) -> Self {
        self.initial_cap = Some(n);
        self
    }
    /// `BLOCK_SIZE` (FLAT).
    pub const fn with_block_size(mut self, n: u64) -> Self {
        self.block_size = Some(n);
        self
    }
    /// `M` (HNSW).
    pub const fn with_m(mut self, n: u64) -> Self {
        self.m = Some(n);
        self
    }
    /// `EF_CONSTRUCTION` (HNSW).
    pub const fn with_ef_construction(mut self, n: u64) -> Self {
        self.ef_construction = Some(n);
        self
    }
    /// `EF_RUNTIME` (HNSW).
    pub const fn with_ef_runtime(mut self, n: u64) -> Self {
        self.ef_runtime = Some(n);
        self
    }
    /// `EPSILON` (HNSW), as it is to be written.
    pub const fn with_epsilon(mut self, text: &'static str) -> Self {
        self.epsilon = Some(text);
        self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> VectorAlgorithm {
        self.algorithm
    }
    /// The element type.
    pub fn element(&self) -> VectorType {
        self.element
    }
    /// The number of elements of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The distance metric.
    pub fn distance(&self) -> DistanceMetric {
        self.distance
    }

    /// The schema words after the attribute's name, as redis-om-python writes
    /// them: `VECTOR FLAT 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC COSINE`, then
    /// INITIAL_CAP, BLOCK_SIZE, M, EF_CONSTRUCTION, EF_RUNTIME, EPSILON when set.
    pub(crate) fn schema_args(&self, args: &mut Vec<String>) {
        let mut attrs: Vec<String> = vec![
            "TYPE".into(),
            self.element.as_str().into(),
            "DIM".into(),
            self.dim.to_string(),
            "DISTANCE_METRIC".into(),
            self.distance.as_str().into(),
        ];
        let numbers = [
            ("INITIAL_CAP", self.initial_cap),
            ("BLOCK_SIZE", self.block_size),
            ("M", self.m),
            ("EF_CONSTRUCTION", self.ef_construction),
            ("EF_RUNTIME", self.ef_runtime),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                attrs.extend([name.into(), value.to_string()]);
            }
        }
        if let Some(epsilon) = self.epsilon {
            attrs.extend(["EPSILON".into(), epsilon.into()]);
        }
        args.push("VECTOR".into());
        args.push(
            match self.algorithm {
                VectorAlgorithm::Flat => "FLAT",
                VectorAlgorithm::Hnsw => "HNSW",
            }
            .into(),
        );
        args.push(attrs.len().to_string());
        args.extend(attrs);
    }
}

/// An element of a vector: `f32` or `f64`.
pub trait VectorElement: Copy + Send + Sync + 'static {
    /// Its `TYPE` in the schema.
    const TYPE: VectorType;
    /// Appends its little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
    /// Reads one from exactly `size_of::<Self>()` little-endian bytes.
    fn get_le(bytes: &[u8]) -> Self;
    /// Whether it is a finite number.
    fn is_finite(self) -> bool;
    /// Whether it is zero.
    fn is_zero(self) -> bool;
    /// Whether the sum of the squares of `elements`, computed in this type
    /// as the index computes distances, is finite.
    fn squares_sum_finite(elements: &[Self]) -> bool;
}

impl VectorElement for f32 {
    const TYPE: VectorType = VectorType::Float32;
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get_le(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn squares_sum_finite(elements: &[Self]) -> bool {
        elements.iter().map(|e| e * e).sum::<f32>().is_finite()
    }
}

impl VectorElement for f64 {
    const TYPE: VectorType = VectorType::Float64;
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn get_le(bytes: &[u8]) -> Self {
        f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn squares_sum_finite(elements: &[Self]) -> bool {
        elements.iter().map(|e| e * e).sum::<f64>().is_finite()
    }
}

/// A type a vector field can have: `Vec<f32>`, `Vec<f64>`, `[f32; N]`,
/// `[f64; N]`, or an `Option` of those (a document without a vector is not
/// in the vector index, and never a neighbour).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a vector field",
    label = "not a vector type",
    note = "a #[redis_om(vector(..))] field is a Vec<f32>, Vec<f64>, [f32; N], [f64; N], or an Option of those"
)]
pub trait VectorValue {
    /// The element type.
    type Elem: VectorElement;
    /// The length of a fixed-size array (checked against `dim` at compile
    /// time); `None` for a `Vec`.
    const LEN: Option<usize> = None;
    /// The elements; `None` when there is no vector.
    fn elements(&self) -> Option<&[Self::Elem]>;
}

impl<E: VectorElement> VectorValue for Vec<E> {
    type Elem = E;
    fn elements(&self) -> Option<&[E]> {
        Some(self)
    }
}

impl<E: VectorElement, const N: usize> VectorValue for [E; N] {
    type Elem = E;
    const LEN: Option<usize> = Some(N);
    fn elements(&self) -> Option<&[E]> {
        Some(self)
    }
}

impl<V: VectorValue> VectorValue for Option<V> {
    type Elem = V::Elem;
    const LEN: Option<usize> = V::LEN;
    fn elements(&self) -> Option<&[V::Elem]> {
        self.as_ref().and_then(V::elements)
    }
}

/// The packed little-endian bytes of `elements` (what a hash stores and what
/// a query sends).
pub(crate) fn pack<E: VectorElement>(elements: &[E]) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of_val(elements));
    for e in elements {
        e.put_le(&mut out);
    }
    out
}

fn unpack<E: VectorElement>(raw: &[u8]) -> Result<Vec<E>, String> {
    let size = std::mem::size_of::<E>();
    if !raw.len().is_multiple_of(size) {
        return Err(format!(
            "{} bytes are not a vector of {} ({size} bytes each)",
            raw.len(),
            E::TYPE.as_str()
        ));
    }
    Ok(raw.chunks_exact(size).map(E::get_le).collect())
}

/// Refuses a vector the index could not hold or measure: of another
/// dimension than the field's `dim`, with a NaN or infinite element, so large
/// that its squared norm overflows the element type (every distance would be
/// infinite), or, for a cosine field, all zeros (its angle to anything is
/// undefined: RediSearch leaves it out of filtered searches and reports NaN
/// elsewhere). `None` passes.
pub fn check_vector<V: VectorValue + ?Sized>(
    value: &V,
    options: &VectorOptions,
) -> Result<(), String> {
    let Some(elements) = value.elements() else {
        return Ok(());
    };
    check_elements(elements, options.dim, options.distance)
}

pub(crate) fn check_elements<E: VectorElement>(
    elements: &[E],
    dim: usize,
    distance: DistanceMetric,
) -> Result<(), String> {
    if elements.len() != dim {
        return Err(format!(
            "a vector of {} elements, where the field's dim is {dim} (RediSearch would not index \
             the document, and find would never return it)",
            elements.len()
        ));
    }
    if let Some(i) = elements.iter().position(|e| !e.is_finite()) {
        return Err(format!("element {i} of the vector is not a finite number"));
    }
    if !E::squares_sum_finite(elements) {
        return Err(format!(
            "the vector's elements are too large: their squares overflow {} (every distance \
             to it would be infinite)",
            E::TYPE.as_str()
        ));
    }
    if distance == DistanceMetric::Cosine && elements.iter().all(|e| e.is_zero()) {
        return Err(
            "a zero vector has no direction: its cosine distance to anything is undefined"
                .to_owned(),
        );
    }
    Ok(())
}

/// Checks a vector read back: of the field's `dim` (one written by another
/// client with another length was refused by the index).
pub fn check_vector_len<V: VectorValue + ?Sized>(value: &V, dim: usize) -> Result<(), String> {
    match value.elements() {
        Some(elements) if elements.len() != dim => Err(format!(
            "a stored vector of {} elements, where the field's dim is {dim} (the index refused \
             this document)",
            elements.len()
        )),
        _ => Ok(()),
    }
}

macro_rules! packed_vec {
    ($($e:ty),*) => {$(
        /// Stored as its little-endian packed elements (the bytes a vector
        /// index reads).
        impl HashValue for Vec<$e> {
            fn to_hash_arg(&self) -> Option<HashArg<'_>> {
                Some(HashArg::Bytes(pack(self).into()))
            }
            fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
                unpack(raw)
            }
        }

        /// Stored as its little-endian packed elements.
        impl<const N: usize> HashValue for [$e; N] {
            fn to_hash_arg(&self) -> Option<HashArg<'_>> {
                Some(HashArg::Bytes(pack(self).into()))
            }
            fn from_hash_bytes(raw: &[u8]) -> Result<Self, String> {
                let elements: Vec<$e> = unpack(raw)?;
                let len = elements.len();
                elements
                    .try_into()
                    .map_err(|_| format!("a vector of {len} elements, where {N} were expected"))
            }
        }
    )*};
}
packed_vec!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_text_is_redis_om_pythons() {
        let mut args = Vec::new();
        VectorOptions::new(
            VectorAlgorithm::Flat,
            VectorType::Float32,
            4,
            DistanceMetric::Cosine,
        )
        .schema_args(&mut args);
        assert_eq!(
            args.join(" "),
            "VECTOR FLAT 6 TYPE FLOAT32 DIM 4 DISTANCE_METRIC COSINE"
        );
        let mut args = Vec::new();
        VectorOptions::new(
            VectorAlgorithm::Hnsw,
            VectorType::Float64,
            3,
            DistanceMetric::L2,
        )
        .with_initial_cap(100)
        .with_m(16)
        .with_ef_construction(200)
        .with_ef_runtime(10)
        .with_epsilon("0.01")
        .schema_args(&mut args);
        assert_eq!(
            args.join(" "),
            "VECTOR HNSW 16 TYPE FLOAT64 DIM 3 DISTANCE_METRIC L2 INITIAL_CAP 100 M 16 \
             EF_CONSTRUCTION 200 EF_RUNTIME 10 EPSILON 0.01"
        );
    }

    #[test]
    fn packing_round_trips_and_checks() {
        let v = vec![0.1f32, -2.5, f32::MAX, f32::MIN_POSITIVE];
        let raw = crate::__private::hash_arg_bytes(v.to_hash_arg().unwrap());
        assert_eq!(raw.len(), 16);
        assert_eq!(&raw[..4], &0.1f32.to_le_bytes());
        assert_eq!(Vec::<f32>::from_hash_bytes(&raw).unwrap(), v);
        let d = [1.0f64, 2.0];
        let raw = crate::__private::hash_arg_bytes(d.to_hash_arg().unwrap());
        assert_eq!(raw.len(), 16);
        assert_eq!(<[f64; 2]>::from_hash_bytes(&raw).unwrap(), d);
        assert!(<[f64; 3]>::from_hash_bytes(&raw).is_err());
        assert!(Vec::<f32>::from_hash_bytes(&[0, 1, 2]).is_err());
        let options = |dim, distance| {
            VectorOptions::new(VectorAlgorithm::Flat, VectorType::Float32, dim, distance)
        };
        let l2 = |dim| options(dim, DistanceMetric::L2);
        assert!(check_vector(&vec![0.1f32, -2.5, 3.0, 1.0], &l2(4)).is_ok());
        assert!(check_vector(&v, &l2(3)).unwrap_err().contains("dim is 3"));
        assert!(check_vector(&vec![f32::NAN], &l2(1)).is_err());
        assert!(check_vector(&None::<Vec<f32>>, &l2(9)).is_ok());
        // Squares that overflow f32, though each element is finite.
        assert!(check_vector(&v, &l2(4)).unwrap_err().contains("too large"));
        assert!(check_vector(
            &vec![f64::from(f32::MAX); 4],
            &options(4, DistanceMetric::L2)
        )
        .is_ok());
        // A zero vector: fine for L2, not for cosine.
        assert!(check_vector(&vec![0.0f32; 2], &l2(2)).is_ok());
        let cosine = options(2, DistanceMetric::Cosine);
        assert!(check_vector(&vec![0.0f32; 2], &cosine)
            .unwrap_err()
            .contains("zero"));
        assert!(check_vector_len(&vec![1.0f32; 3], 2).is_err());
        assert!(check_vector_len(&vec![1.0f32; 2], 2).is_ok());
    }
}
