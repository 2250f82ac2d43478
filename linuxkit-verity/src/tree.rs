//! The dm-verity hash tree, written after the data it checks.
//!
//! Format 1 (`veritysetup`'s default): SHA-256 over the salt followed by the block; 4096-byte
//! data and hash blocks, 128 digests per hash block, zero-padded; the levels stored from the
//! top (one block) down to the level that hashes the data blocks; the root hash is the salted
//! hash of the top block. Before the tree, at the first block boundary after the data, a
//! 512-byte superblock (in a block of its own) describes it, as `veritysetup format` writes it.
//!
//! The salt is derived from the data (SHA-256 of a fixed label and every data byte) and the
//! superblock's UUID from the salt, so the same data always gives the same bytes and root hash.

use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use crate::{Params, BLOCK_SIZE};

const BS: usize = BLOCK_SIZE as usize;
/// Digests per hash block.
const FANOUT: usize = BS / 32;

fn salted(salt: &[u8], block: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(block);
    h.finalize().into()
}

/// Reads block `i` (zero-filled past the end of the data).
fn read_blocks<F: Read + Seek>(
    f: &mut F,
    data_len: u64,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    f.seek(SeekFrom::Start(0))?;
    let mut r = io::BufReader::with_capacity(1 << 20, f.take(data_len));
    let mut block = vec![0u8; BS];
    loop {
        let mut n = 0;
        while n < BS {
            let got = r.read(&mut block[n..])?;
            if got == 0 {
                break;
            }
            n += got;
        }
        if n == 0 {
            return Ok(());
        }
        block[n..].fill(0);
        each(&block);
        if n < BS {
            return Ok(());
        }
    }
}

/// Pads the data in `f` (its whole current length) to a block boundary, then writes the
/// superblock and the hash tree after it. Returns what the kernel needs to check it.
pub fn append<F: Read + Write + Seek>(f: &mut F) -> io::Result<Params> {
    let data_len = f.seek(SeekFrom::End(0))?;
    if data_len == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "dm-verity needs at least one data block",
        ));
    }
    let data_blocks = data_len.div_ceil(BLOCK_SIZE);

    let mut h = Sha256::new();
    h.update(b"cargo-linuxkit dm-verity salt\0");
    read_blocks(f, data_len, |b| h.update(b))?;
    let salt: [u8; 32] = h.finalize().into();

    // The bottom level: one digest per data block.
    let mut digests: Vec<[u8; 32]> = Vec::with_capacity(data_blocks as usize);
    read_blocks(f, data_len, |b| digests.push(salted(&salt, b)))?;
    // Levels as hash blocks, bottom first, until one block is left.
    let mut levels: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut level = Vec::with_capacity(digests.len().div_ceil(FANOUT) * BS);
        for chunk in digests.chunks(FANOUT) {
            for d in chunk {
                level.extend_from_slice(d);
            }
            level.resize(level.len().next_multiple_of(BS), 0);
        }
        digests = level.chunks(BS).map(|b| salted(&salt, b)).collect();
        levels.push(level);
        if digests.len() == 1 {
            break;
        }
    }
    let root_hash = digests[0];

    let sb_block = data_blocks;
    f.seek(SeekFrom::Start(data_len))?;
    let mut w = io::BufWriter::with_capacity(1 << 20, &mut *f);
    io::copy(
        &mut io::repeat(0).take(data_blocks * BLOCK_SIZE - data_len),
        &mut w,
    )?;
    let mut sb = superblock(&salt, data_blocks);
    sb.resize(BS, 0);
    w.write_all(&sb)?;
    for level in levels.iter().rev() {
        w.write_all(level)?;
    }
    w.flush()?;
    Ok(Params {
        root_hash,
        salt: salt.to_vec(),
        data_blocks,
        hash_start_block: sb_block + 1,
    })
}

/// `veritysetup`'s on-disk superblock (512 bytes, little endian).
fn superblock(salt: &[u8; 32], data_blocks: u64) -> Vec<u8> {
    let mut uuid: [u8; 16] = Sha256::digest([&salt[..], b"uuid"].concat())[..16]
        .try_into()
        .unwrap_or([0; 16]);
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let mut sb = Vec::with_capacity(512);
    sb.extend_from_slice(b"verity\0\0");
    sb.extend_from_slice(&1u32.to_le_bytes()); // superblock version
    sb.extend_from_slice(&1u32.to_le_bytes()); // hash type: normal (format 1)
    sb.extend_from_slice(&uuid);
    let mut alg = [0u8; 32];
    alg[..6].copy_from_slice(b"sha256");
    sb.extend_from_slice(&alg);
    sb.extend_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
    sb.extend_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
    sb.extend_from_slice(&data_blocks.to_le_bytes());
    sb.extend_from_slice(&(salt.len() as u16).to_le_bytes());
    sb.extend_from_slice(&[0u8; 6]);
    let mut s = [0u8; 256];
    s[..salt.len()].copy_from_slice(salt);
    sb.extend_from_slice(&s);
    sb.resize(512, 0);
    sb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_level_tree_by_hand() {
        let mut f = io::Cursor::new(vec![7u8; 3 * BS + 100]);
        let p = append(&mut f).unwrap();
        assert_eq!(p.data_blocks, 4);
        assert_eq!(p.hash_start_block, 5);
        let bytes = f.into_inner();
        // Data padded, superblock, one hash block.
        assert_eq!(bytes.len(), 6 * BS);
        assert_eq!(&bytes[3 * BS + 100..4 * BS], &vec![0u8; BS - 100][..]);
        assert_eq!(&bytes[4 * BS..4 * BS + 8], b"verity\0\0");
        let level = &bytes[5 * BS..];
        for i in 0..4 {
            let want = salted(&p.salt, &bytes[i * BS..(i + 1) * BS]);
            assert_eq!(&level[i * 32..(i + 1) * 32], &want);
        }
        assert!(level[4 * 32..].iter().all(|&b| b == 0));
        assert_eq!(p.root_hash, salted(&p.salt, level));
    }

    #[test]
    fn two_levels_and_reproducible() {
        let data: Vec<u8> = (0..(FANOUT + 3) * BS).map(|i| (i % 251) as u8).collect();
        let mut a = io::Cursor::new(data.clone());
        let mut b = io::Cursor::new(data);
        let pa = append(&mut a).unwrap();
        let pb = append(&mut b).unwrap();
        assert_eq!(pa, pb);
        assert_eq!(a.into_inner(), b.into_inner());
        // Top level (1 block) then the bottom level (2 blocks).
        assert_eq!(pa.hash_start_block, pa.data_blocks + 1);
    }
}
