//! Detects and undoes the compression of a layer stream (plain, gzip, zstd) by its magic bytes.

use std::io::{self, Cursor, Read};

use crate::error::{ImageError, Result};

/// The compression of a layer stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
    /// bzip2 (`BZh`): recognised, not supported.
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`): recognised, not supported.
    Xz,
}

/// Names the compression from the first bytes of a stream.
pub fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if magic.starts_with(b"BZh") {
        Compression::Bzip2
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else {
        Compression::None
    }
}

/// Wraps `reader` in the decompressor its magic bytes call for.
pub fn decompress<'a, R: Read + Send + 'a>(mut reader: R) -> Result<Box<dyn Read + Send + 'a>> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        match reader.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ImageError::InvalidArchive(format!(
                    "reading the stream: {e}"
                )))
            }
        }
    }
    let head = Cursor::new(magic[..n].to_vec());
    let whole = head.chain(reader);
    Ok(match detect(&magic[..n]) {
        Compression::None => Box::new(whole),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(whole)
                .map_err(|e| ImageError::InvalidArchive(format!("zstd: {e}")))?,
        ),
        c @ (Compression::Bzip2 | Compression::Xz) => {
            return Err(ImageError::InvalidArchive(format!(
                "unsupported compression {c:?} (plain tar, gzip and zstd are supported)"
            )))
        }
    })
}
