//! Webhooks as the Standard Webhooks convention has them: an endpoint's `whsec_` secret, the
//! signature of a message (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`), the
//! schedule of attempts, and which addresses an endpoint may not point at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a secret's printable form starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new endpoint secret: 24 random bytes, printed as `whsec_` and their base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key a secret signs with: the bytes its base64 stands for. `None` for a text that is
/// not a secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    (!key.is_empty()).then_some(key)
}

/// The signature of one message with one key, as the `webhook-signature` header carries it:
/// `v1,` and the base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut content = Vec::with_capacity(id.len() + body.len() + 24);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.to_string().as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(hmac_sha256(key, &content)))
}

/// The `webhook-signature` header of a message signed with every key given (during a secret's
/// rotation, the new one and the old one), separated by spaces.
pub fn signature_header(keys: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| signature(k, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// How long after its first attempt fails a message is tried again, attempt by attempt: the
/// convention's schedule, 5 seconds to 10 hours. After the last, the delivery has failed.
pub const RETRY_AFTER_SECONDS: [i64; 7] =
    [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/// When attempt `attempts + 1` is due, in seconds after the attempt that just failed, or
/// `None` when `attempts` attempts were the last. `jitter` (0 to 1) spreads the retries of
/// many messages over the tenth of the wait after it, so an endpoint back from an outage is
/// not hit by all of them at once. A receiver's `Retry-After` is honoured when it asks for
/// longer, up to a day.
pub fn next_attempt_in(attempts: u32, jitter: f64, retry_after: Option<i64>) -> Option<i64> {
    let wait = *RETRY_AFTER_SECONDS.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let spread = (wait as f64 * 0.1 * jitter.clamp(0.0, 1.0)) as i64;
    let asked = retry_after.unwrap_or(0).clamp(0, 24 * 3600);
    Some((wait + spread).max(asked))
}

/// Which addresses endpoints may point at, as the operator configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Public addresses only (the default).
    #[default]
    Public,
    /// Private ranges too (RFC 1918, unique-local IPv6, carrier-grade NAT): an intranet
    /// bridge is a legitimate receiver on a government network.
    Private,
    /// This machine's loopback too: for development and tests on one machine.
    Local,
}

/// Whether an endpoint may point at `ip`. Link-local addresses (where cloud metadata services
/// answer), unspecified, multicast and broadcast addresses never; loopback (this service
/// itself and its machine) only for [`Reach::Local`]; private ranges from [`Reach::Private`].
pub fn address_allowed(ip: IpAddr, reach: Reach) -> bool {
    let kind = match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_kind(v4),
            None => v6_kind(v6),
        },
    };
    match kind {
        Kind::Never => false,
        Kind::Loopback => reach == Reach::Local,
        Kind::Private => reach != Reach::Public,
        Kind::Public => true,
    }
}

enum Kind {
    Never,
    Loopback,
    Private,
    Public,
}

fn v4_kind(ip: Ipv4Addr) -> Kind {
    let [a, b, ..] = ip.octets();
    if ip.is_link_local() || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || a == 0
    {
        Kind::Never
    } else if ip.is_loopback() {
        Kind::Loopback
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Kind::Private
    } else {
        Kind::Public
    }
}

fn v6_kind(ip: Ipv6Addr) -> Kind {
    let first = ip.segments()[0];
    if ip.is_unspecified() || ip.is_multicast() || (first & 0xffc0) == 0xfe80 {
        Kind::Never
    } else if ip.is_loopback() {
        Kind::Loopback
    } else if (first & 0xfe00) == 0xfc00 {
        Kind::Private
    } else {
        Kind::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conventions_test_vector_signs_as_published() {
        let key = secret_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 (a short key) and test case 6 (a key longer than a block).
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn secrets_are_new_each_time_and_read_back() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(secret_key(&a).map(|k| k.len()), Some(24));
        assert_eq!(secret_key("whsec_"), None);
        assert_eq!(secret_key("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), None);
        assert_eq!(secret_key("whsec_not base64!"), None);
    }

    #[test]
    fn a_rotation_signs_with_both_keys() {
        let (old, new) = (vec![1u8; 24], vec![2u8; 24]);
        let header = signature_header(&[new.clone(), old.clone()], "msg_1", 1, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [
                signature(&new, "msg_1", 1, b"{}"),
                signature(&old, "msg_1", 1, b"{}")
            ]
        );
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(next_attempt_in(1, 0.0, None), Some(5));
        assert_eq!(next_attempt_in(2, 0.0, None), Some(300));
        assert_eq!(next_attempt_in(7, 0.0, None), Some(36_000));
        assert_eq!(next_attempt_in(8, 0.0, None), None, "eight attempts in all");
        assert_eq!(next_attempt_in(0, 0.0, None), None);
        // Jitter adds at most a tenth; a longer Retry-After wins, up to a day.
        assert_eq!(next_attempt_in(2, 1.0, None), Some(330));
        assert_eq!(next_attempt_in(1, 0.0, Some(120)), Some(120));
        assert_eq!(next_attempt_in(1, 0.0, Some(1)), Some(5));
        assert_eq!(next_attempt_in(1, 0.0, Some(10_000_000)), Some(86_400));
    }

    #[test]
    fn endpoints_reach_this_machine_and_intranets_only_when_allowed() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for never in [
            "0.0.0.0",
            "169.254.169.254",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "fe80::1",
            "::ffff:169.254.169.254",
        ] {
            for reach in [Reach::Public, Reach::Private, Reach::Local] {
                assert!(!address_allowed(ip(never), reach), "{never} {reach:?}");
            }
        }
        for local in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(!address_allowed(ip(local), Reach::Public), "{local}");
            assert!(!address_allowed(ip(local), Reach::Private), "{local}");
            assert!(address_allowed(ip(local), Reach::Local), "{local}");
        }
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "100.64.0.1",
            "fd00::1",
        ] {
            assert!(!address_allowed(ip(private), Reach::Public), "{private}");
            assert!(address_allowed(ip(private), Reach::Private), "{private}");
        }
        for public in ["1.2.3.4", "120.92.1.1", "2408:8000::1", "::ffff:1.2.3.4"] {
            assert!(address_allowed(ip(public), Reach::Public), "{public}");
        }
    }
}
