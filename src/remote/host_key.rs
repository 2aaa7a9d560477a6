//! Host keys as OpenSSH shows them: the key type named inside the key blob
//! (`ssh-ed25519`), the blob in base64 (a `known_hosts` line) and the `SHA256:` fingerprint that
//! `ssh-keygen -l` prints (base64 without padding). Pure.

/// A server's host key: the SSH wire blob and what is derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostKey {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    pub(crate) key_type: String,
    /// The blob in standard base64 with padding, as `known_hosts` holds it.
    pub(crate) base64: String,
    /// `SHA256:<base64 without padding>`.
    pub(crate) fingerprint: String,
    pub(crate) blob: Vec<u8>,
}

impl HostKey {
    /// `blob` as the server sent it; `sha256` its digest (libssh2 computes it).
    pub(crate) fn new(blob: &[u8], sha256: &[u8]) -> HostKey {
        HostKey {
            key_type: key_type(blob).unwrap_or("unknown").to_owned(),
            base64: base64(blob, true),
            fingerprint: format!("SHA256:{}", base64(sha256, false)),
            blob: blob.to_vec(),
        }
    }
}

/// The type name a key blob starts with (a length-prefixed string, RFC 4253 §6.6).
pub(crate) fn key_type(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let name = blob.get(4..4 + len)?;
    std::str::from_utf8(name)
        .ok()
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4), with or without `=` padding.
pub(crate) fn base64(bytes: &[u8], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", "", ""),
            ("f", "Zg==", "Zg"),
            ("fo", "Zm8=", "Zm8"),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg==", "Zm9vYg"),
            ("fooba", "Zm9vYmE=", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ];
        for (plain, padded, bare) in cases {
            assert_eq!(base64(plain.as_bytes(), true), padded);
            assert_eq!(base64(plain.as_bytes(), false), bare);
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xfe], true), "+//+");
    }

    #[test]
    fn key_type_is_read_from_the_blob() {
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        blob.extend_from_slice(&[7; 32]);
        assert_eq!(key_type(&blob), Some("ssh-ed25519"));
        assert_eq!(key_type(&blob[..8]), None);
        assert_eq!(key_type(&[0, 0, 0, 0]), None);
        let key = HostKey::new(&blob, &[0; 32]);
        assert_eq!(key.key_type, "ssh-ed25519");
        assert_eq!(
            key.fingerprint,
            "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        );
        assert!(key.base64.starts_with("AAAAC3NzaC1lZDI1NTE5AAAAI"));
    }
}
