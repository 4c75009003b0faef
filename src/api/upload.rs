//! A document file as a request body: read from disk in large chunks on tokio's blocking
//! pool, one chunk read ahead, never the whole file in memory.
//!
//! Why not `ReaderStream` over a `tokio::fs::File`: it reads 4 KiB at a time, and each read
//! of a `tokio::fs::File` is a trip to the blocking pool and back (two thread wake-ups). Two
//! 4 MB documents a row made 2,000 trips a row; 200 such rows at `--concurrency 8` against
//! nginx cost 719,000 context switches and 7.5 s of system time, and took 2.2× curl's time
//! on the same files. Here a trip reads [`CHUNK`] bytes (16 trips for a 4 MB document), and
//! hyper writes each chunk with one `writev`.
//!
//! Memory: a part holds at most two chunks, the one hyper is writing and the one being read
//! behind it, and a request streams one part at a time: 1 MiB a request in flight.
//!
//! The bytes sent are exactly the `size` bytes validation measured: a file that grew is cut
//! at that size (the multipart `Content-Length` was computed from it), and one that shrank
//! ends the stream with an error, so the request fails rather than waiting for bytes that
//! will never come. (The next attempt reopens the file, and `DocumentFile::open` refuses it
//! for its changed size.)

use std::fs::File;
use std::io::{self, Read};

use bytes::Bytes;
use futures_util::Stream;
use tokio::task::JoinHandle;

/// Bytes read from disk in one trip to the blocking pool.
pub(super) const CHUNK: usize = 512 * 1024;

/// The first `size` bytes of `file`, from its current position, as a stream of chunks.
pub(super) fn chunks(file: File, size: u64) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let first = Next::Idle(Reader { file, left: size });
    futures_util::stream::try_unfold(first, |next| async move {
        let reading = match next {
            Next::Idle(reader) if reader.left == 0 => return Ok(None),
            Next::Idle(reader) => reader.spawn(),
            Next::Reading(reading) => reading,
        };
        let (reader, chunk) = reading.await.map_err(io::Error::other)?;
        let chunk = chunk?;
        // Read the next chunk while hyper writes this one.
        let next = match reader.left {
            0 => Next::Idle(reader),
            _ => Next::Reading(reader.spawn()),
        };
        Ok(Some((chunk, next)))
    })
}

/// What the stream does on its next poll: start reading (the first chunk is read only when
/// hyper asks for it, so a request waiting for its connection holds no file data), or wait
/// for the read already under way.
enum Next {
    Idle(Reader),
    Reading(JoinHandle<(Reader, io::Result<Bytes>)>),
}

/// The open file and how many of its bytes are still to be sent.
struct Reader {
    file: File,
    left: u64,
}

impl Reader {
    /// Reads the next chunk on the blocking pool. A stream dropped meanwhile (the request
    /// failed or timed out) detaches the read, which finishes and closes the file.
    fn spawn(mut self) -> JoinHandle<(Reader, io::Result<Bytes>)> {
        tokio::task::spawn_blocking(move || {
            let want = self.left.min(CHUNK as u64) as usize;
            let chunk = read_exactly(&mut self.file, want);
            if chunk.is_ok() {
                self.left -= want as u64;
            }
            (self, chunk)
        })
    }
}

/// Exactly `want` bytes, or an error if the file ends first.
fn read_exactly(file: &mut File, want: usize) -> io::Result<Bytes> {
    let mut buf = vec![0u8; want];
    match file.read_exact(&mut buf) {
        Ok(()) => Ok(Bytes::from(buf)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file is shorter than when it was validated",
        )),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::io::{Seek, SeekFrom, Write};

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    async fn collect(file: File, size: u64) -> (Vec<Bytes>, Option<io::Error>) {
        let mut stream = std::pin::pin!(chunks(file, size));
        let mut got = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => got.push(chunk),
                Err(e) => return (got, Some(e)),
            }
        }
        (got, None)
    }

    /// Sizes around the chunk boundary and of several chunks arrive whole and in order,
    /// in chunks of `CHUNK` bytes but the last.
    #[tokio::test]
    async fn every_byte_in_order_in_large_chunks() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12_345] {
            let bytes = content(len);
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&bytes).unwrap();
            file.rewind().unwrap();
            let (got, err) = collect(file, len as u64).await;
            assert!(err.is_none(), "{len}: {err:?}");
            assert_eq!(got.concat(), bytes, "{len}");
            assert_eq!(got.len(), len.div_ceil(CHUNK), "{len}");
            assert!(got.iter().rev().skip(1).all(|c| c.len() == CHUNK), "{len}");
        }
    }

    /// Only `size` bytes from the current position: a file that grew is cut.
    #[tokio::test]
    async fn a_file_that_grew_is_cut_at_its_validated_size() {
        let bytes = content(2 * CHUNK + 10);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        file.seek(SeekFrom::Start(3)).unwrap();
        let (got, err) = collect(file, CHUNK as u64 + 5).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(got.concat(), &bytes[3..CHUNK + 8]);
    }

    /// A file cut short while it is being sent ends the stream with an error (hyper then
    /// fails the request) instead of ending it early or waiting.
    #[tokio::test]
    async fn a_file_that_shrank_mid_upload_is_an_error() {
        let bytes = content(3 * CHUNK);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        file.rewind().unwrap();
        let truncate = file.try_clone().unwrap();
        let mut stream = std::pin::pin!(chunks(file, bytes.len() as u64));
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first, &bytes[..CHUNK]);
        // The second chunk may already be read ahead; the third cannot be.
        truncate.set_len(CHUNK as u64 + 100).unwrap();
        let mut rest = Vec::new();
        let err = loop {
            match stream.next().await {
                Some(Ok(chunk)) => rest.push(chunk),
                Some(Err(e)) => break e,
                None => panic!("the stream ended without an error"),
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("shorter"), "{err}");
        assert!(rest.len() <= 1);
    }
}
