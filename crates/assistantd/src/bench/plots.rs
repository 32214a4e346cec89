//! The two SVG plots of `assistantd bench`: the median turn as a waterfall
//! (where its milliseconds went, stage by stage, from the end of speech to
//! the first sound) and the distribution of each figure over all turns.
//!
//! Both are drawn with plotters' SVG backend into a string and written in
//! one go, so a failed write leaves no half-drawn file behind and its error
//! names the file. Text stays text (`<text>` elements): no fonts are read.

use std::path::Path;

use anyhow::{Context as _, Result};
use assistant_trace::{Mark, TurnTrace};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The p-th percentile (`p` in percent, 0 to 100) of `sorted`, by linear
/// interpolation between the two nearest ranks (the "type 7" estimate of
/// numpy and spreadsheets): rank `p / 100 × (n − 1)` counted from 0, so
/// p0 is the minimum, p100 the maximum and p50 of an even count the mean of
/// the middle two.
///
/// `sorted` must be in ascending order (an unsorted slice gives a
/// meaningless answer, not a panic). `None` for an empty slice or a `p`
/// outside 0..=100 (NaN included).
#[must_use]
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&p) {
        return None;
    }
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    // `rank` lies in 0..=len-1, so both indices are in bounds.
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let (a, b) = (*sorted.get(lo)?, *sorted.get(hi)?);
    Some(a + (b - a) * (rank - lo as f64))
}

/// Draws `trace` (the median turn) as a waterfall into the SVG file `path`:
/// one horizontal bar per stage of the critical path on a time axis in
/// milliseconds after the end of speech, each labelled with its duration,
/// and a vertical line at the first sound ("first audio: N ms").
///
/// The bars, top to bottom: endpoint wait (speech end → endpoint), ASR
/// finalisation (→ final transcript), LLM to first token (request → first
/// token), LLM to first clause (first token → first clause), TTS first
/// audio (synthesis start → first audio synthesized), device buffer (first
/// audio queued → played), and the pipeline's own hops drawn as the three
/// gaps between those stages, labelled with their total. A bar whose marks
/// are missing, out of order or before the end of speech is left out;
/// bars too short to see are drawn a hair wide (their labels say the truth).
///
/// # Errors
/// If the plot cannot be drawn or `path` cannot be written (the error names
/// the file).
pub fn waterfall(trace: &TurnTrace, title: &str, path: &Path) -> Result<()> {
    let rows = waterfall_rows(trace);
    let headline = trace.timeline.speech_end_to_first_sound().map(ms);
    let longest = rows
        .iter()
        .flat_map(|row| row.segments.iter().map(|&(_, end)| end))
        .chain(headline)
        .fold(0.0_f64, f64::max);
    let x_max = if longest > 0.0 { longest * 1.18 } else { 1000.0 };
    let n = rows.len().max(1);
    // Above the bars, room for the headline's label.
    let top = n as f64 + 0.6;
    let size = (1000, 170 + 46 * n as u32);
    let note = format!(
        "{} ({}): critical path from the end of the user's speech to the first sound",
        trace.turn,
        if trace.outcome.is_empty() {
            "outcome unknown"
        } else {
            &trace.outcome
        }
    );

    let svg = render(size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .margin_top(12)
            .margin_right(40)
            .x_label_area_size(56)
            .y_label_area_size(LABEL_AREA)
            .build_cartesian_2d(0.0..x_max, 0.0..top)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("ms after end of speech")
            .x_label_formatter(&|v| axis_label(*v, x_max))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(TRANSPARENT)
            .draw()?;
        let plot_left = chart.plotting_area().get_pixel_range().0.start;
        let min_width = x_max / 400.0;

        // The headline first, so that bars and labels lie over it.
        if let Some(h) = headline {
            chart.draw_series(std::iter::once(DashedPathElement::new(
                [(h, 0.0), (h, n as f64 + 0.15)],
                6,
                4,
                BLACK.stroke_width(2),
            )))?;
            root.draw(&Text::new(
                format!("first audio: {} ms", fmt_ms(h)),
                chart.backend_coord(&(h, n as f64 + 0.15)),
                ("sans-serif", 16)
                    .into_font()
                    .style(FontStyle::Bold)
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))?;
        }

        for (i, row) in rows.iter().enumerate() {
            let y = (n - i) as f64 - 0.5;
            let fill = row.colour.filled();
            chart.draw_series(row.segments.iter().map(|&(start, end)| {
                Rectangle::new([(start, y - 0.32), (end.max(start + min_width), y + 0.32)], fill)
            }))?;
            let (_, row_px) = chart.backend_coord(&(0.0, y));
            root.draw(&Text::new(
                row.label,
                (plot_left - 10, row_px),
                text_style(15, &BLACK, HPos::Right),
            ))?;
            if let Some(&(start, end)) = row.segments.last() {
                let (end_px, _) = chart.backend_coord(&(end.max(start + min_width), y));
                let text = format!("{} ms", fmt_ms(row.total()));
                let style = text_style(14, &RGBColor(40, 40, 40), HPos::Left);
                // A pale backing keeps the label legible over the headline.
                let (w, h) = root.estimate_text_size(&text, &style)?;
                let (x, y) = (end_px + 4, row_px - h as i32 / 2 - 2);
                root.draw(&Rectangle::new(
                    [(x, y), (x + w as i32 + 6, y + h as i32 + 4)],
                    WHITE.mix(0.85).filled(),
                ))?;
                root.draw(&Text::new(text, (end_px + 6, row_px), style))?;
            }
        }

        if rows.is_empty() {
            let (x, y) = chart.backend_coord(&(x_max / 2.0, 0.5));
            root.draw(&Text::new(
                "no stage of this turn was recorded",
                (x, y),
                text_style(16, &RGBColor(120, 120, 120), HPos::Center),
            ))?;
        }

        let (_, bottom) = root.dim_in_pixel();
        root.draw(&Text::new(
            note.as_str(),
            (16, bottom as i32 - 14),
            text_style(12, &RGBColor(110, 110, 110), HPos::Left),
        ))?;
        Ok(())
    })?;
    write(path, &svg)
}

/// Draws the distribution of each named series (values in milliseconds)
/// into the SVG file `path`: a row per series on one shared ms axis, with a
/// box from p25 to p75, a thick line at p50, whiskers from the minimum to
/// the maximum, a diamond at p95 and every value as a small dot; each row
/// is labelled with its name and "p50 N / p95 N ms" ([`percentile`], linear
/// interpolation).
///
/// Series with no finite value are left out; one value is a box of no width.
///
/// # Errors
/// If the plot cannot be drawn or `path` cannot be written (the error names
/// the file).
pub fn distribution(series: &[(&str, Vec<f64>)], title: &str, path: &Path) -> Result<()> {
    let rows: Vec<Spread<'_>> = series
        .iter()
        .filter_map(|(name, values)| Spread::of(name, values))
        .collect();
    let lowest = rows.iter().map(|r| r.min).fold(0.0_f64, f64::min);
    let highest = rows.iter().map(|r| r.max).fold(0.0_f64, f64::max);
    let span = highest - lowest;
    let (x_min, x_max) = if span > 0.0 {
        (
            if lowest < 0.0 { lowest - span * 0.05 } else { 0.0 },
            highest + span * 0.06,
        )
    } else {
        (lowest, lowest + 1.0)
    };
    let n = rows.len().max(1);
    let size = (1000, 160 + 64 * n as u32);

    let svg = render(size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .margin_right(40)
            .x_label_area_size(56)
            .y_label_area_size(LABEL_AREA)
            .build_cartesian_2d(x_min..x_max, 0.0..n as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("ms")
            .x_label_formatter(&|v| axis_label(*v, x_max - x_min))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(TRANSPARENT)
            .draw()?;
        let plot_left = chart.plotting_area().get_pixel_range().0.start;

        for (i, row) in rows.iter().enumerate() {
            let y = (n - i) as f64 - 0.5;
            let colour = PALETTE[i % PALETTE.len()];
            let dark = BLACK.mix(0.85).stroke_width(2);
            // Whiskers, with caps at the extremes.
            chart.draw_series(
                [
                    vec![(row.min, y), (row.p25, y)],
                    vec![(row.p75, y), (row.max, y)],
                    vec![(row.min, y - 0.12), (row.min, y + 0.12)],
                    vec![(row.max, y - 0.12), (row.max, y + 0.12)],
                ]
                .into_iter()
                .map(|points| PathElement::new(points, dark)),
            )?;
            chart.draw_series([
                Rectangle::new([(row.p25, y - 0.24), (row.p75, y + 0.24)], colour.mix(0.3).filled()),
                Rectangle::new([(row.p25, y - 0.24), (row.p75, y + 0.24)], colour.stroke_width(2)),
            ])?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(row.p50, y - 0.24), (row.p50, y + 0.24)],
                BLACK.stroke_width(3),
            )))?;
            // Every value, spread over the row's height so equal values
            // stay visible (a fixed pattern: the plot is reproducible).
            chart.draw_series(row.values.iter().enumerate().map(|(k, &v)| {
                let jitter = ((k as f64 * 0.618_034).fract() - 0.5) * 0.36;
                Circle::new((v, y + jitter), 3, colour.mix(0.75).filled())
            }))?;
            chart.draw_series(std::iter::once(
                EmptyElement::at((row.p95, y))
                    + Polygon::new(
                        vec![(0, -7), (6, 0), (0, 7), (-6, 0)],
                        RGBColor(200, 30, 30).mix(0.85).filled(),
                    ),
            ))?;

            let (_, row_px) = chart.backend_coord(&(x_min, y));
            root.draw(&Text::new(
                row.name,
                (plot_left - 10, row_px - 9),
                ("sans-serif", 15)
                    .into_font()
                    .style(FontStyle::Bold)
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
            root.draw(&Text::new(
                format!("p50 {} / p95 {} ms", fmt_ms(row.p50), fmt_ms(row.p95)),
                (plot_left - 10, row_px + 10),
                text_style(13, &RGBColor(70, 70, 70), HPos::Right),
            ))?;
        }

        if rows.is_empty() {
            let (x, y) = chart.backend_coord(&((x_min + x_max) / 2.0, 0.5));
            root.draw(&Text::new(
                "no values to plot",
                (x, y),
                text_style(16, &RGBColor(120, 120, 120), HPos::Center),
            ))?;
        }

        let (_, bottom) = root.dim_in_pixel();
        root.draw(&Text::new(
            "box: p25 to p75, black line: p50, whiskers: min to max, red diamond: p95, dots: every turn",
            (16, bottom as i32 - 14),
            text_style(12, &RGBColor(110, 110, 110), HPos::Left),
        ))?;
        Ok(())
    })?;
    write(path, &svg)
}

/// The width of the row labels left of both plots.
const LABEL_AREA: u32 = 200;

/// Distinct colours (Tableau 10), one per stage or series.
const PALETTE: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

/// One bar of the waterfall: its pieces as (start, end) in ms after the
/// end of speech.
struct Row {
    label: &'static str,
    segments: Vec<(f64, f64)>,
    colour: RGBColor,
}

impl Row {
    fn total(&self) -> f64 {
        self.segments.iter().map(|(start, end)| end - start).sum()
    }
}

/// The critical path's stages: label, from, to.
const STAGES: [(&str, Mark, Mark); 6] = [
    ("endpoint wait", Mark::SpeechEnd, Mark::Endpoint),
    ("ASR finalisation", Mark::Endpoint, Mark::FinalTranscript),
    ("LLM to first token", Mark::LlmRequest, Mark::FirstToken),
    ("LLM to first clause", Mark::FirstToken, Mark::FirstClause),
    (
        "TTS first audio",
        Mark::FirstSynthesisStart,
        Mark::FirstAudioSynthesized,
    ),
    ("device buffer", Mark::FirstAudioQueued, Mark::FirstAudioPlayed),
];

/// The hops between the stages: the pipeline's own cost.
const HOPS: [(Mark, Mark); 3] = [
    (Mark::FinalTranscript, Mark::LlmRequest),
    (Mark::FirstClause, Mark::FirstSynthesisStart),
    (Mark::FirstAudioSynthesized, Mark::FirstAudioQueued),
];

/// The waterfall's bars that `trace` has the marks for.
fn waterfall_rows(trace: &TurnTrace) -> Vec<Row> {
    let timeline = &trace.timeline;
    let speech_end = timeline.get(Mark::SpeechEnd);
    // A piece from `from` to `to`, both recorded, in order and not before
    // the end of speech.
    let segment = |from: Mark, to: Mark| -> Option<(f64, f64)> {
        let start = ms(timeline.get(from)?.checked_since(speech_end?)?);
        Some((start, start + ms(timeline.between(from, to)?)))
    };
    let mut rows: Vec<Row> = STAGES
        .iter()
        .zip(PALETTE)
        .filter_map(|(&(label, from, to), colour)| {
            Some(Row {
                label,
                segments: vec![segment(from, to)?],
                colour,
            })
        })
        .collect();
    let hops: Vec<(f64, f64)> = HOPS.iter().filter_map(|&(from, to)| segment(from, to)).collect();
    if !hops.is_empty() {
        rows.push(Row {
            label: "overhead (hops)",
            segments: hops,
            colour: PALETTE[6],
        });
    }
    rows
}

/// One series' figures for the distribution plot.
struct Spread<'a> {
    name: &'a str,
    values: Vec<f64>,
    min: f64,
    p25: f64,
    p50: f64,
    p75: f64,
    p95: f64,
    max: f64,
}

impl<'a> Spread<'a> {
    /// `None` when `values` has no finite value.
    fn of(name: &'a str, values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        Some(Self {
            name,
            min: *sorted.first()?,
            max: *sorted.last()?,
            p25: percentile(&sorted, 25.0)?,
            p50: percentile(&sorted, 50.0)?,
            p75: percentile(&sorted, 75.0)?,
            p95: percentile(&sorted, 95.0)?,
            values: sorted,
        })
    }
}

/// Draws into an SVG string of `size` pixels on a white background.
fn render(size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(svg)
}

fn write(path: &Path, svg: &str) -> Result<()> {
    std::fs::write(path, svg).with_context(|| format!("cannot write the plot {}", path.display()))
}

fn text_style(size: u32, colour: &RGBColor, h: HPos) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .color(colour)
        .pos(Pos::new(h, VPos::Center))
}

/// A tick label: decimals only where the axis is short enough to need them.
fn axis_label(v: f64, range: f64) -> String {
    if range < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// Milliseconds for a label: one decimal below 10 ms, whole above.
fn fmt_ms(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use assistant_core::{Timestamp, TurnId};
    use assistant_trace::{Breakdown, Timeline};

    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    fn trace(marks: &[(Mark, u64)]) -> TurnTrace {
        let mut timeline = Timeline::new(TurnId(7));
        for &(mark, ms) in marks {
            timeline.record(mark, at(ms));
        }
        TurnTrace {
            turn: TurnId(7),
            breakdown: Breakdown::of(&timeline),
            timeline,
            outcome: "completed".to_owned(),
            ..TurnTrace::default()
        }
    }

    /// The turn of assistant-trace's breakdown test: 881 ms to first audio.
    fn full_trace() -> TurnTrace {
        trace(&[
            (Mark::SpeechStart, 200),
            (Mark::SpeechEnd, 1000),
            (Mark::Endpoint, 1500),
            (Mark::FinalTranscript, 1503),
            (Mark::LlmRequest, 1504),
            (Mark::FirstToken, 1700),
            (Mark::FirstClause, 1800),
            (Mark::FirstSynthesisStart, 1802),
            (Mark::FirstAudioSynthesized, 1850),
            (Mark::FirstAudioQueued, 1851),
            (Mark::FirstAudioPlayed, 1881),
        ])
    }

    /// Parses `path` as XML and returns its texts, trimmed.
    fn svg_texts(path: &Path) -> Vec<String> {
        let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_owned())
            .collect()
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let four = [1.0, 2.0, 3.0, 4.0];
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        for (sorted, p, want) in [
            (&four[..], 0.0, 1.0),
            (&four[..], 50.0, 2.5),
            (&four[..], 100.0, 4.0),
            (&four[..], 25.0, 1.75),
            (&[10.0, 20.0, 30.0, 40.0, 50.0][..], 25.0, 20.0),
            (&[10.0, 20.0, 30.0, 40.0, 50.0][..], 50.0, 30.0),
            (&hundred[..], 95.0, 95.05),
            (&[7.5][..], 0.0, 7.5),
            (&[7.5][..], 95.0, 7.5),
        ] {
            let got = percentile(sorted, p).unwrap_or(f64::NAN);
            assert!((got - want).abs() < 1e-9, "p{p} of {sorted:?}: {got}, want {want}");
        }
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&four, -1.0), None);
        assert_eq!(percentile(&four, 100.5), None);
        assert_eq!(percentile(&four, f64::NAN), None);
    }

    #[test]
    fn the_waterfall_labels_every_stage_and_the_headline() {
        let dir = tempdir();
        let path = dir.path().join("waterfall.svg");
        waterfall(&full_trace(), "median turn: a & b <test>", &path).unwrap_or_else(|e| panic!("{e:#}"));
        let texts = svg_texts(&path);
        for want in [
            "median turn: a & b <test>",
            "first audio: 881 ms",
            "ms after end of speech",
            "endpoint wait",
            "500 ms",
            "ASR finalisation",
            "3.0 ms",
            "LLM to first token",
            "196 ms",
            "LLM to first clause",
            "100 ms",
            "TTS first audio",
            "48 ms",
            "device buffer",
            "30 ms",
            // 1 + 2 + 1 ms of hops.
            "overhead (hops)",
            "4.0 ms",
        ] {
            assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
        }
    }

    #[test]
    fn missing_marks_leave_bars_out_without_panicking() {
        let dir = tempdir();
        let cases = [
            // A failed reply: no audio, no headline.
            trace(&[(Mark::SpeechEnd, 10), (Mark::Endpoint, 20), (Mark::LlmRequest, 21)]),
            // No speech end: nothing can be placed on the axis.
            trace(&[(Mark::Endpoint, 20), (Mark::FirstAudioPlayed, 900)]),
            // Out of order, and nothing at all.
            trace(&[
                (Mark::SpeechEnd, 100),
                (Mark::Endpoint, 90),
                (Mark::FirstAudioPlayed, 50),
            ]),
            trace(&[]),
            // Only the hops.
            trace(&[
                (Mark::SpeechEnd, 0),
                (Mark::FirstClause, 300),
                (Mark::FirstSynthesisStart, 301),
            ]),
        ];
        for (i, case) in cases.iter().enumerate() {
            let path = dir.path().join(format!("case{i}.svg"));
            waterfall(case, "partial", &path).unwrap_or_else(|e| panic!("case {i}: {e:#}"));
            let texts = svg_texts(&path);
            assert!(
                !texts.iter().any(|t| t.starts_with("first audio")),
                "case {i}: {texts:?}"
            );
            assert!(!texts.iter().any(|t| t == "device buffer"), "case {i}: {texts:?}");
        }
        let texts = svg_texts(&dir.path().join("case0.svg"));
        assert!(texts.iter().any(|t| t == "endpoint wait"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "ASR finalisation"), "{texts:?}");
        let texts = svg_texts(&dir.path().join("case4.svg"));
        assert!(texts.iter().any(|t| t == "overhead (hops)"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "1.0 ms"), "{texts:?}");
    }

    #[test]
    fn the_distribution_labels_each_series_with_its_percentiles() {
        let dir = tempdir();
        let path = dir.path().join("distribution.svg");
        let series = [
            ("headline", vec![900.0, 800.0, 881.0, 1200.0, 850.0]),
            ("endpoint_delay", vec![500.0]),
            ("tts_first_audio", vec![]),
            ("overhead", vec![3.0, f64::NAN, 1.0]),
        ];
        distribution(&series, "latency over 5 turns", &path).unwrap_or_else(|e| panic!("{e:#}"));
        let texts = svg_texts(&path);
        for want in [
            "latency over 5 turns",
            "headline",
            // p95: rank 3.8 between 900 and 1200.
            "p50 881 / p95 1140 ms",
            "endpoint_delay",
            "p50 500 / p95 500 ms",
            "overhead",
            "p50 2.0 / p95 2.9 ms",
        ] {
            assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
        }
        assert!(
            !texts.iter().any(|t| t == "tts_first_audio"),
            "an empty series is left out: {texts:?}"
        );
        let svg = std::fs::read_to_string(&path).unwrap_or_default();
        // 5 + 1 + 2 values, one dot each.
        assert_eq!(svg.matches("<circle").count(), 8, "{svg}");

        let empty = dir.path().join("empty.svg");
        distribution(&[("headline", vec![])], "nothing", &empty).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(svg_texts(&empty).iter().any(|t| t == "no values to plot"));
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let dir = tempdir();
        let path = dir.path().join("no-such-folder").join("plot.svg");
        let err = waterfall(&full_trace(), "t", &path)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let err = distribution(&[("headline", vec![1.0])], "t", &path)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
