//! SVG line charts with `plotters` (SVG backend only, to keep the build light).

use std::path::Path;

use plotters::prelude::*;

use crate::error::Error;

/// One line, with an optional confidence band `(low, high)` per point.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, y)` points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Per point, the band around `y`.
    pub band: Option<Vec<(f64, f64)>>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn bounds(series: &[Series]) -> ((f64, f64), (f64, f64)) {
    let mut x = (f64::INFINITY, f64::NEG_INFINITY);
    let mut y = (f64::INFINITY, f64::NEG_INFINITY);
    for s in series {
        for (i, (px, py)) in s.points.iter().enumerate() {
            x = (x.0.min(*px), x.1.max(*px));
            y = (y.0.min(*py), y.1.max(*py));
            if let Some(band) = &s.band
                && let Some((low, high)) = band.get(i)
            {
                y = (y.0.min(*low), y.1.max(*high));
            }
        }
    }
    if !x.0.is_finite() {
        x = (0.0, 1.0);
        y = (0.0, 1.0);
    }
    if x.1 <= x.0 {
        x.1 = x.0 + 1.0;
    }
    y.0 = y.0.min(0.0);
    if y.1 <= y.0 {
        y.1 = y.0 + 1.0;
    }
    let pad = (y.1 - y.0) * 0.05;
    (x, (y.0, y.1 + pad))
}

/// Draws `series` as lines (with shaded bands where given) into the SVG at `path`.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), Error> {
    let plot_error = |message: String| Error::Plot {
        path: path.to_path_buf(),
        message,
    };
    let ((x0, x1), (y0, y1)) = bounds(series);
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_error(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| plot_error(e.to_string()))?;
    for (index, s) in series.iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        if let Some(band) = &s.band {
            let mut polygon: Vec<(f64, f64)> = s
                .points
                .iter()
                .zip(band)
                .map(|((x, _), (_, high))| (*x, *high))
                .collect();
            polygon.extend(
                s.points
                    .iter()
                    .zip(band)
                    .rev()
                    .map(|((x, _), (low, _))| (*x, *low)),
            );
            chart
                .draw_series(std::iter::once(Polygon::new(polygon, color.mix(0.18))))
                .map_err(|e| plot_error(e.to_string()))?;
        }
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                ShapeStyle::from(&color).stroke_width(2),
            ))
            .map_err(|e| plot_error(e.to_string()))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 18, y)],
                    ShapeStyle::from(&color).stroke_width(2),
                )
            });
        chart
            .draw_series(
                s.points
                    .iter()
                    .map(|(x, y)| Circle::new((*x, *y), 3, ShapeStyle::from(&color).filled())),
            )
            .map_err(|e| plot_error(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| plot_error(e.to_string()))?;
    root.present().map_err(|e| plot_error(e.to_string()))?;
    Ok(())
}
