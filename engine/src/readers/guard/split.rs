//! Splitting decompressed text into raw records, each with its line and byte offset.

/// A complete record from a splitter.
pub(super) struct Raw {
    pub(super) bytes: Vec<u8>,
    pub(super) line: u64,
    pub(super) offset: u64,
    /// CSV fields, for the header.
    pub(super) fields: Vec<String>,
    /// Set when the record is longer than [`MAX_RECORD`]: its full length (`bytes` holds its start).
    pub(super) oversized: Option<u64>,
}

/// The longest record sluice decodes (arrow's string columns hold at most 2 GiB per batch); a longer
/// one is a bad record, kept as its first [`MAX_RECORD`] bytes.
pub(super) const MAX_RECORD: usize = 256 << 20;

/// Splits CSV into records with csv-core, keeping each record's raw bytes, line and offset.
pub(super) struct CsvSplitter {
    reader: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    n_fields: usize,
    raw: Vec<u8>,
    /// Bytes and line ends of the current record beyond what `raw` keeps.
    dropped: u64,
    dropped_lines: u64,
    pub(super) max_record: usize,
    /// Lines and bytes before `raw`.
    line: u64,
    offset: u64,
}

impl CsvSplitter {
    pub(super) fn new(delimiter: u8, quote: u8, escape: Option<u8>, comment: Option<u8>) -> Self {
        let reader = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .escape(escape)
            .double_quote(escape.is_none())
            .comment(comment)
            .build();
        Self {
            reader,
            out: vec![0; 4096],
            ends: vec![0; 64],
            out_len: 0,
            n_fields: 0,
            raw: Vec::new(),
            dropped: 0,
            dropped_lines: 0,
            max_record: MAX_RECORD,
            line: 1,
            offset: 0,
        }
    }

    pub(super) fn push(&mut self, mut input: &[u8], eof: bool, records: &mut Vec<Raw>) {
        loop {
            let (result, n_in, n_out, n_end) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.n_fields..],
            );
            let room = self.max_record.saturating_sub(self.raw.len()).min(n_in);
            self.raw.extend_from_slice(&input[..room]);
            if room < n_in {
                self.dropped += (n_in - room) as u64;
                self.dropped_lines += input[room..n_in].iter().filter(|b| **b == b'\n').count() as u64;
            }
            input = &input[n_in..];
            self.out_len += n_out;
            self.n_fields += n_end;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    if input.is_empty() && !eof {
                        return;
                    }
                }
                // Field values are needed only for the header: past 1 MiB they are dropped.
                csv_core::ReadRecordResult::OutputFull if self.out.len() >= 1 << 20 => self.out_len = 0,
                csv_core::ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                csv_core::ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                csv_core::ReadRecordResult::Record => {
                    let raw = std::mem::take(&mut self.raw);
                    let (dropped, dropped_lines) = (self.dropped, self.dropped_lines);
                    (self.dropped, self.dropped_lines) = (0, 0);
                    // Blank lines (and comment lines) before the record belong to no record.
                    let lead = leading_skipped(&raw);
                    let newlines = raw.iter().filter(|b| **b == b'\n').count() as u64 + dropped_lines;
                    let lead_lines = raw[..lead].iter().filter(|b| **b == b'\n').count() as u64;
                    let mut fields = Vec::with_capacity(self.n_fields);
                    let mut start = 0;
                    for &end in &self.ends[..self.n_fields] {
                        let end = end.min(self.out_len).max(start);
                        fields.push(String::from_utf8_lossy(&self.out[start..end]).into_owned());
                        start = end;
                    }
                    let total = raw.len() as u64 + dropped;
                    records.push(Raw {
                        bytes: raw[lead..].to_vec(),
                        line: self.line + lead_lines,
                        offset: self.offset + lead as u64,
                        fields,
                        oversized: (dropped > 0).then_some(total - lead as u64),
                    });
                    self.line += newlines;
                    self.offset += total;
                    self.out_len = 0;
                    self.n_fields = 0;
                }
                csv_core::ReadRecordResult::End => return,
            }
        }
    }
}

/// Bytes of blank lines at the start of a raw record.
pub(super) fn leading_skipped(raw: &[u8]) -> usize {
    let mut lead = 0;
    for (i, b) in raw.iter().enumerate() {
        match b {
            b'\n' => lead = i + 1,
            b'\r' => {}
            _ => break,
        }
    }
    lead
}

/// Splits NDJSON into lines (blank lines skipped), with line numbers and offsets.
pub(super) struct LineSplitter {
    partial: Vec<u8>,
    /// Bytes of the current line beyond what `partial` keeps.
    dropped: u64,
    max_record: usize,
    line: u64,
    offset: u64,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self {
            partial: Vec::new(),
            dropped: 0,
            max_record: MAX_RECORD,
            line: 0,
            offset: 0,
        }
    }
}

impl LineSplitter {
    pub(super) fn push(&mut self, input: &[u8], eof: bool, records: &mut Vec<Raw>) {
        let mut rest = input;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.keep(&rest[..=pos]);
            rest = &rest[pos + 1..];
            self.emit(records);
        }
        self.keep(rest);
        if eof && (!self.partial.is_empty() || self.dropped > 0) {
            self.emit(records);
        }
    }

    /// Adds bytes to the current line, up to the longest record kept.
    fn keep(&mut self, bytes: &[u8]) {
        let room = self
            .max_record
            .saturating_sub(self.partial.len())
            .min(bytes.len());
        self.partial.extend_from_slice(&bytes[..room]);
        self.dropped += (bytes.len() - room) as u64;
    }

    fn emit(&mut self, records: &mut Vec<Raw>) {
        let line = std::mem::take(&mut self.partial);
        let dropped = std::mem::take(&mut self.dropped);
        self.line += 1;
        let len = line.len() as u64 + dropped;
        if dropped > 0 || !line.iter().all(u8::is_ascii_whitespace) {
            records.push(Raw {
                bytes: line,
                line: self.line,
                offset: self.offset,
                fields: Vec::new(),
                oversized: (dropped > 0).then_some(len),
            });
        }
        self.offset += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_over_the_limit_are_cut_and_counted_whole() {
        let text = b"a,b\n1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n2,y\n";
        let mut csv = CsvSplitter::new(b',', b'"', None, None);
        csv.max_record = 8;
        let mut out = Vec::new();
        for c in text.chunks(5) {
            csv.push(c, false, &mut out);
        }
        csv.push(&[], true, &mut out);
        let got: Vec<(u64, u64, Option<u64>, usize)> = out
            .iter()
            .map(|r| (r.line, r.offset, r.oversized, r.bytes.len()))
            .collect();
        assert_eq!(got, [(1, 0, None, 4), (2, 4, Some(33), 8), (3, 37, None, 4)]);

        let mut lines = LineSplitter {
            max_record: 8,
            ..LineSplitter::default()
        };
        let mut out = Vec::new();
        lines.push(
            b"{\"a\": 1}\n{\"a\": \"long long long\"}\n{\"a\": 2}",
            true,
            &mut out,
        );
        let got: Vec<(u64, u64, Option<u64>)> = out.iter().map(|r| (r.line, r.offset, r.oversized)).collect();
        assert_eq!(got, [(1, 0, Some(9)), (2, 9, Some(24)), (3, 33, None)]);
    }
}
