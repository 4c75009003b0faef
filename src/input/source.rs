//! Where a partner file's text comes from: the bytes on disk, hashed as they are read (a file
//! is known by its content, whatever form it takes), decompressed when it is gzip, and decoded
//! to UTF-8 when it is in another encoding. What the first bytes say the file is decides the
//! road, not its name: a workbook called `.csv` is still read as a workbook.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_8};

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// Text, maybe gzip-compressed.
    Text { gzip: bool },
    /// An Office Open XML workbook.
    Workbook,
}

/// Reads the head of `file` and says what it is, or why it cannot be read as partner data.
/// `encoding` is `--encoding`: a UTF-16 one makes a head full of zero bytes text.
pub(super) fn sniff(
    file: &mut File,
    encoding: Option<&'static Encoding>,
) -> io::Result<Result<Form, String>> {
    let utf16 = encoding.is_some_and(|e| e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
    use std::io::Seek;
    let mut head = Vec::with_capacity(8192);
    file.by_ref().take(8192).read_to_end(&mut head)?;
    file.seek(io::SeekFrom::Start(0))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        // What the archive holds is checked on its decompressed head.
        let mut inner = Vec::with_capacity(8192);
        // A truncated head decompresses as far as it goes; the error comes with the read.
        let _ = flate2::read::MultiGzDecoder::new(&head[..])
            .take(8192)
            .read_to_end(&mut inner);
        return Ok(match binary(&inner).filter(|_| !utf16) {
            Some(what) => Err(format!("a gzip file holding {what}")),
            None => Ok(Form::Text { gzip: true }),
        });
    }
    if head.starts_with(b"PK\x03\x04") {
        // Every Office Open XML file has a [Content_Types].xml: a document or a presentation
        // is told apart by its folders first.
        return Ok(if zip_holds(&head, b"word/") {
            Err("a Word document (.docx), not a spreadsheet".into())
        } else if zip_holds(&head, b"ppt/") {
            Err("a PowerPoint presentation (.pptx), not a spreadsheet".into())
        } else if zip_holds(&head, b"application/vnd.oasis.opendocument.spreadsheet") {
            Err("an OpenDocument spreadsheet (.ods): save it as .xlsx, or as CSV UTF-8".into())
        } else if zip_holds(&head, b"xl/") || zip_holds(&head, b"[Content_Types].xml") {
            Ok(Form::Workbook)
        } else {
            Err("a zip archive: unzip it and give the CSV or .xlsx file inside".into())
        });
    }
    Ok(match binary(&head).filter(|_| !utf16) {
        Some(what) => Err(what),
        None => Ok(Form::Text { gzip: false }),
    })
}

/// Whether a zip file's first local headers name `needle` (entry names are stored in clear).
fn zip_holds(head: &[u8], needle: &[u8]) -> bool {
    head.windows(needle.len()).any(|w| w == needle)
}

/// What a non-text head is, with what to do about it; `None` for text.
fn binary(head: &[u8]) -> Option<String> {
    let known: [(&[u8], &str); 9] = [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "an Excel 97-2003 workbook (.xls) or another old Office file: save it as .xlsx, \
             or as CSV UTF-8",
        ),
        (b"%PDF", "a PDF document, not a spreadsheet"),
        (b"PK\x03\x04", "a zip archive"),
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
        (b"SQLite format 3\0", "an SQLite database"),
    ];
    if let Some((_, what)) = known.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some((*what).to_string());
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        return None; // UTF-16 with its byte-order mark: text.
    }
    // A stray zero byte in a text file is one row's problem, not the file's: a binary file
    // has them everywhere.
    let nuls = head.iter().filter(|&&b| b == 0).count();
    if nuls == 0 || nuls * 100 < head.len() {
        return None;
    }
    // Text in UTF-16 without a byte-order mark has a NUL beside every ASCII character.
    let pairs = head.len() / 2;
    let odd = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    let even = head.iter().step_by(2).filter(|&&b| b == 0).count();
    Some(if pairs > 0 && odd * 10 >= pairs * 8 {
        "text in UTF-16 without a byte-order mark: try --encoding utf-16le".to_string()
    } else if pairs > 0 && even * 10 >= pairs * 8 {
        "text in UTF-16 without a byte-order mark: try --encoding utf-16be".to_string()
    } else {
        "a binary file, not text".to_string()
    })
}

/// Hashes the bytes read through it and counts them.
pub(super) struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
    bytes: u64,
}

impl<R> Hashing<R> {
    pub(super) fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: sha2::Digest::new(),
            bytes: 0,
        }
    }

    /// The bytes read so far.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(super) fn into_parts(self) -> (R, sha2::Sha256) {
        (self.inner, self.hasher)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The file as read from disk: large reads, each hashed once.
pub(super) type Raw = BufReader<Hashing<File>>;

/// Decodes a stream in any encoding to UTF-8. A sequence that is not valid in the encoding
/// becomes U+FFFD and its position in the output is kept, so that the record holding it can
/// be told apart from one where U+FFFD was written on purpose.
pub(super) struct Decoding<R> {
    inner: R,
    decoder: Decoder,
    /// Decoded bytes not yet handed out: `out[start..end]`.
    out: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes handed out so far.
    produced: u64,
    /// Output positions of undecodable sequences not yet claimed by a record.
    malformed: VecDeque<u64>,
    done: bool,
}

/// The UTF-8 of U+FFFD REPLACEMENT CHARACTER.
const REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

impl<R: BufRead> Decoding<R> {
    pub(super) fn new(inner: R, encoding: &'static Encoding) -> Decoding<R> {
        Decoding {
            inner,
            // WHATWG decoding: a byte-order mark wins over the label, and is removed.
            decoder: encoding.new_decoder(),
            out: vec![0u8; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            produced: 0,
            malformed: VecDeque::new(),
            done: false,
        }
    }

    /// Decodes the next stretch of input into `out`, which is empty.
    fn refill(&mut self) -> io::Result<()> {
        self.start = 0;
        self.end = 0;
        // Room is kept for a replacement after the last decoded byte.
        let room = self.out.len() - REPLACEMENT.len();
        while self.end == 0 && !self.done {
            let input = self.inner.fill_buf()?;
            let last = input.is_empty();
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                input,
                &mut self.out[self.end..room],
                last,
            );
            self.inner.consume(read);
            self.end += written;
            match result {
                DecoderResult::InputEmpty => self.done = last,
                DecoderResult::OutputFull => break,
                DecoderResult::Malformed(_, _) => {
                    self.malformed.push_back(self.produced + self.end as u64);
                    self.out[self.end..self.end + REPLACEMENT.len()].copy_from_slice(REPLACEMENT);
                    self.end += REPLACEMENT.len();
                }
            }
        }
        Ok(())
    }

    /// Whether an undecodable sequence was replaced in output bytes `[from, to)`. Positions
    /// before `to` are forgotten: records are asked about in order.
    fn malformed_in(&mut self, from: u64, to: u64) -> bool {
        let mut found = false;
        while let Some(&at) = self.malformed.front() {
            if at >= to {
                break;
            }
            found |= at >= from;
            self.malformed.pop_front();
        }
        found
    }
}

impl<R: BufRead> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            self.refill()?;
        }
        let n = buf.len().min(self.end - self.start);
        buf[..n].copy_from_slice(&self.out[self.start..self.start + n]);
        self.start += n;
        self.produced += n as u64;
        Ok(n)
    }
}

type Gunzip = flate2::bufread::MultiGzDecoder<Raw>;

/// The layers between the file and the text.
enum Stack {
    Plain(Raw),
    Gzip(BufReader<Gunzip>),
    Decoded(Decoding<Raw>),
    GzipDecoded(Decoding<BufReader<Gunzip>>),
}

impl Read for Stack {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stack::Plain(r) => r.read(buf),
            Stack::Gzip(r) => r.read(buf),
            Stack::Decoded(r) => r.read(buf),
            Stack::GzipDecoded(r) => r.read(buf),
        }
    }
}

impl Stack {
    fn raw(&self) -> &Raw {
        match self {
            Stack::Plain(r) => r,
            Stack::Gzip(r) => r.get_ref().get_ref(),
            Stack::Decoded(r) => &r.inner,
            Stack::GzipDecoded(r) => r.inner.get_ref().get_ref(),
        }
    }

    fn into_raw(self) -> Raw {
        match self {
            Stack::Plain(r) => r,
            Stack::Gzip(r) => r.into_inner().into_inner(),
            Stack::Decoded(r) => r.inner,
            Stack::GzipDecoded(r) => r.inner.into_inner().into_inner(),
        }
    }
}

/// How a text file is read, kept so that it can be read again the same way (to count lines
/// for a message).
#[derive(Debug, Clone)]
pub(super) struct TextForm {
    pub path: std::path::PathBuf,
    pub gzip: bool,
    /// `None`: UTF-8, read as bytes and checked per record.
    pub encoding: Option<&'static Encoding>,
}

/// A file's text, as UTF-8 bytes.
pub(super) struct Text {
    form: TextForm,
    stack: Stack,
    /// Bytes handed out so far.
    produced: u64,
    /// The last bytes handed out, from stream position `tail_at` (decoded streams only: a
    /// plain file is read again from disk instead).
    tail: Vec<u8>,
    tail_at: u64,
}

/// How much of a decoded stream's end is kept for the open-quote check.
const TAIL: usize = 64 * 1024;

impl Text {
    /// Opens the text of a file `sniff` found to be text. `encoding` is `--encoding`; without
    /// it a UTF-16 byte-order mark is recognised.
    pub(super) fn open(
        file: File,
        form_path: &Path,
        gzip: bool,
        encoding: Option<&'static Encoding>,
    ) -> io::Result<Text> {
        let mut raw = BufReader::with_capacity(256 * 1024, Hashing::new(file));
        let (stack, encoding) = if gzip {
            let mut text =
                BufReader::with_capacity(128 * 1024, flate2::bufread::MultiGzDecoder::new(raw));
            match effective(encoding, text.fill_buf()?) {
                Some(e) => (Stack::GzipDecoded(Decoding::new(text, e)), Some(e)),
                None => (Stack::Gzip(text), None),
            }
        } else {
            match effective(encoding, raw.fill_buf()?) {
                Some(e) => (Stack::Decoded(Decoding::new(raw, e)), Some(e)),
                None => (Stack::Plain(raw), None),
            }
        };
        Ok(Text {
            form: TextForm {
                path: form_path.to_path_buf(),
                gzip,
                encoding,
            },
            stack,
            produced: 0,
            tail: Vec::new(),
            tail_at: 0,
        })
    }

    /// A new reading of the same file's text from its start.
    fn again(&self) -> io::Result<Text> {
        let file = File::open(&self.form.path)?;
        Text::open(file, &self.form.path, self.form.gzip, self.form.encoding)
    }

    /// The encoding the text is decoded from; `None`: UTF-8, checked per record.
    pub(super) fn encoding(&self) -> Option<&'static Encoding> {
        self.form.encoding
    }

    /// Whether the file is gzip-compressed.
    pub(super) fn gzip(&self) -> bool {
        self.form.gzip
    }

    /// Bytes of text handed out so far.
    pub(super) fn produced(&self) -> u64 {
        self.produced
    }

    /// Bytes of the file read from disk and taken by the layers above so far: what the raw
    /// read-ahead holds is not counted.
    pub(super) fn raw_bytes(&self) -> u64 {
        let raw = self.stack.raw();
        raw.get_ref().bytes() - raw.buffer().len() as u64
    }

    /// Bytes decoded or decompressed but not yet handed out (the decompressed bytes waiting
    /// for a decoder are counted as if they were text: an estimate).
    pub(super) fn ahead(&self) -> u64 {
        let n = match &self.stack {
            Stack::Plain(_) => 0,
            Stack::Gzip(r) => r.buffer().len(),
            Stack::Decoded(r) => r.end - r.start,
            Stack::GzipDecoded(r) => r.end - r.start + r.inner.buffer().len(),
        };
        n as u64
    }

    /// Whether a sequence that is not valid in the file's encoding was replaced in text
    /// bytes `[from, to)`. Asked of records in order.
    pub(super) fn malformed_in(&mut self, from: u64, to: u64) -> bool {
        match &mut self.stack {
            Stack::Decoded(d) => d.malformed_in(from, to),
            Stack::GzipDecoded(d) => d.malformed_in(from, to),
            Stack::Plain(_) | Stack::Gzip(_) => false,
        }
    }

    /// The text from position `at` to its end, read again.
    pub(super) fn again_from(&self, at: u64) -> io::Result<Box<dyn Read>> {
        use std::io::Seek;
        match &self.stack {
            Stack::Plain(_) => {
                let mut file = File::open(&self.form.path)?;
                file.seek(io::SeekFrom::Start(at))?;
                Ok(Box::new(file))
            }
            _ if at >= self.tail_at => {
                let kept = self.tail[(at - self.tail_at) as usize..].to_vec();
                Ok(Box::new(io::Cursor::new(kept)))
            }
            _ => {
                let mut text = self.again()?;
                io::copy(&mut text.by_ref().take(at), &mut io::sink())?;
                Ok(Box::new(text))
            }
        }
    }

    /// The text from its start, read again (to count lines for a message).
    pub(super) fn again_from_start(&self) -> io::Result<Box<dyn Read>> {
        Ok(Box::new(self.again()?))
    }

    /// The SHA-256 of the file's bytes on disk: what is left of the file is read first.
    pub(super) fn sha256(self) -> io::Result<String> {
        let mut raw = self.stack.into_raw();
        io::copy(&mut raw, &mut io::sink())?;
        let (_, hasher) = raw.into_inner().into_parts();
        Ok(hex::encode(sha2::Digest::finalize(hasher)))
    }
}

impl Read for Text {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stack.read(buf)?;
        if !matches!(self.stack, Stack::Plain(_)) {
            self.tail.extend_from_slice(&buf[..n]);
            if self.tail.len() > 4 * TAIL {
                let cut = self.tail.len() - TAIL;
                self.tail.drain(..cut);
                self.tail_at += cut as u64;
            }
        }
        self.produced += n as u64;
        Ok(n)
    }
}

/// The encoding to decode from, given `--encoding` and the text's first bytes; `None`: read
/// as UTF-8. A byte-order mark wins over the label, as WHATWG decoding does.
fn effective(flag: Option<&'static Encoding>, head: &[u8]) -> Option<&'static Encoding> {
    let chosen = match Encoding::for_bom(head) {
        Some((bom, _)) => bom,
        None => flag.unwrap_or(UTF_8),
    };
    (chosen != UTF_8).then_some(chosen)
}

/// The encoding that bytes which are not UTF-8 most likely are, for a hint: what Firefox's
/// detector (chardetng) guesses from them.
pub(super) fn likely_encoding(bytes: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, chardetng::Utf8Detection::Deny)
}

/// Follows CSV quoting (RFC 4180, as the `csv` crate reads it) from the start of a record to
/// the end of the text, and gives the position of a quote still open at the end.
pub(super) fn open_quote(text: impl Read, delimiter: u8) -> io::Result<Option<u64>> {
    #[derive(Clone, Copy, PartialEq)]
    enum At {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut at = At::FieldStart;
    let mut opened = 0u64;
    let mut offset = 0u64;
    let mut reader = BufReader::with_capacity(64 * 1024, text);
    // A UTF-8 byte-order mark (Excel's "CSV UTF-8" writes one) is not part of the first field:
    // the quote after it opens that field, as the CSV reader sees it.
    const BOM: &[u8] = b"\xef\xbb\xbf";
    if reader.fill_buf()?.starts_with(BOM) {
        reader.consume(BOM.len());
        offset = BOM.len() as u64;
    }
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok((at == At::Quoted).then_some(opened));
        }
        for (i, &b) in chunk.iter().enumerate() {
            let ends_field = b == delimiter || b == b'\n' || b == b'\r';
            at = match at {
                At::FieldStart if b == b'"' => {
                    opened = offset + i as u64;
                    At::Quoted
                }
                At::FieldStart | At::Unquoted if ends_field => At::FieldStart,
                At::FieldStart | At::Unquoted => At::Unquoted,
                At::Quoted if b == b'"' => At::QuoteInQuoted,
                At::Quoted => At::Quoted,
                At::QuoteInQuoted if b == b'"' => At::Quoted,
                At::QuoteInQuoted if ends_field => At::FieldStart,
                At::QuoteInQuoted => At::Unquoted,
            };
        }
        let n = chunk.len();
        offset += n as u64;
        reader.consume(n);
    }
}

/// The 1-based line at text position `at`: line breaks (LF, CRLF or a lone CR) before it,
/// plus any right at it.
pub(super) fn line_at(text: impl Read, at: u64) -> io::Result<u64> {
    let mut reader = BufReader::with_capacity(64 * 1024, text);
    let mut breaks = 0u64;
    let mut previous = 0u8;
    let mut offset = 0u64;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(breaks + 1);
        }
        for &b in chunk {
            // Past the position, only the line breaks right at it still count.
            if offset >= at && b != b'\n' && b != b'\r' {
                return Ok(breaks + 1);
            }
            match b {
                b'\n' if previous == b'\r' => {}
                b'\n' | b'\r' => breaks += 1,
                _ => {}
            }
            previous = b;
            offset += 1;
        }
        let n = chunk.len();
        reader.consume(n);
    }
}
