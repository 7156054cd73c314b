//! Digests that leave the process (annotations, status, derived names) and
//! so must be the same on every build, platform and Rust release. std's
//! `DefaultHasher` promises none of that: a toolchain upgrade could change
//! every desired-state hash and rewrite every child once. Hashes kept only
//! in memory may still use it.

/// FNV-1a, 64 bits: fixed forever, fast, for short identifiers (shards,
/// name suffixes). Not collision-resistant against chosen input.
pub fn fnv1a_64(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The first 64 bits of SHA-256 as 16 hex digits: fixed forever. A chosen
/// collision costs about 2^32 hashes, so nothing may trust it alone: the
/// operator skips a write only when the live object is also exactly what
/// it builds (`runtime::compare`).
pub fn sha256_hex16(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers: these must never change (they are written to objects).
    #[test]
    fn fnv1a_64_is_the_published_function() {
        assert_eq!(fnv1a_64(*b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(*b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn sha256_hex16_is_the_prefix_of_sha256() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(sha256_hex16(b"abc"), "ba7816bf8f01cfea");
        assert_eq!(sha256_hex16(b""), "e3b0c44298fc1c14");
    }
}
