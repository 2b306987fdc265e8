//! Resource identifiers: `<prefix>_<27 base62 characters>`, KSUID-shaped (a 4-byte timestamp and
//! 16 random bytes), so that ids sort roughly by creation time like Clerk's.

use rand::RngCore;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// KSUID epoch (2014-05-13T16:53:20Z) in unix seconds.
const KSUID_EPOCH: u64 = 1_400_000_000;
const ENCODED_LEN: usize = 27;

/// A new id with the given prefix, e.g. `new_id("user", now_ms)` → `user_2xhFjEI5X2qWRvtV13BzSj8H6Dk`.
pub fn new_id(prefix: &str, now_ms: i64) -> String {
    let mut bytes = [0u8; 20];
    let secs = u64::try_from(now_ms / 1000)
        .unwrap_or(0)
        .saturating_sub(KSUID_EPOCH);
    let stamp = u32::try_from(secs).unwrap_or(u32::MAX);
    bytes[..4].copy_from_slice(&stamp.to_be_bytes());
    rand::thread_rng().fill_bytes(&mut bytes[4..]);
    format!("{prefix}_{}", base62(&bytes))
}

/// Base62 of a 160-bit big-endian number, left-padded with '0' to 27 characters.
fn base62(bytes: &[u8; 20]) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(ENCODED_LEN);
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    while digits.len() < ENCODED_LEN {
        digits.push(b'0');
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

/// True when `id` looks like an id with this prefix: the shape check that keeps SQL-looking or
/// oversized path segments away from the store.
pub fn has_shape(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|tail| {
            !tail.is_empty() && tail.len() <= 64 && tail.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_27_base62_chars() {
        let id = new_id("user", 1_716_883_200_000);
        let tail = id.strip_prefix("user_").unwrap_or_default();
        assert_eq!(tail.len(), 27);
        assert!(tail.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(has_shape(&id, "user"));
    }

    #[test]
    fn ids_sort_by_time() {
        let a = new_id("user", 1_600_000_000_000);
        let b = new_id("user", 1_700_000_000_000);
        assert!(a < b);
    }

    #[test]
    fn base62_of_max_fits_27_chars() {
        assert_eq!(base62(&[0xff; 20]), "aWgEPTl1tmebfsQzFP4bxwgy80V");
        assert_eq!(base62(&[0; 20]), "0".repeat(27));
    }

    #[test]
    fn shape_check_rejects_hostile_ids() {
        for bad in [
            "user_",
            "user_../../etc",
            "user_1' OR 1=1",
            "sess_abc",
            "user",
            "",
        ] {
            assert!(!has_shape(bad, "user"), "{bad}");
        }
    }
}
