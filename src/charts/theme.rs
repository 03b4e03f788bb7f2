//! Chart colours, matching the CSS tokens in style/ (status colours are the same everywhere).

use plotters::style::RGBColor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    pub background: RGBColor,
    pub grid: RGBColor,
    pub axis: RGBColor,
    pub text: RGBColor,
    pub completed: RGBColor,
    pub failed: RGBColor,
    pub cancelled: RGBColor,
    pub running: RGBColor,
    pub warning: RGBColor,
    /// Colours for series without a meaning of their own (providers, models).
    pub palette: [RGBColor; 8],
    /// Device pixels per CSS pixel: line widths and fonts scale with it.
    pub scale: f64,
}

impl Theme {
    pub const fn dark(scale: f64) -> Self {
        Self {
            background: RGBColor(0x16, 0x19, 0x20),
            grid: RGBColor(0x26, 0x2b, 0x36),
            axis: RGBColor(0x3a, 0x41, 0x4f),
            text: RGBColor(0x9a, 0xa3, 0xb5),
            completed: RGBColor(0x3f, 0xb9, 0x50),
            failed: RGBColor(0xf0, 0x58, 0x4f),
            cancelled: RGBColor(0x7d, 0x85, 0x90),
            running: RGBColor(0x4c, 0x9a, 0xff),
            warning: RGBColor(0xe3, 0xa7, 0x2f),
            palette: [
                RGBColor(0x4c, 0x9a, 0xff),
                RGBColor(0xbc, 0x8c, 0xff),
                RGBColor(0x3f, 0xb9, 0x50),
                RGBColor(0xe3, 0xa7, 0x2f),
                RGBColor(0x39, 0xc5, 0xcf),
                RGBColor(0xff, 0x7b, 0x72),
                RGBColor(0xd2, 0x99, 0x22),
                RGBColor(0x8b, 0x94, 0x9e),
            ],
            scale,
        }
    }

    pub const fn light(scale: f64) -> Self {
        Self {
            background: RGBColor(0xff, 0xff, 0xff),
            grid: RGBColor(0xe8, 0xeb, 0xf0),
            axis: RGBColor(0xc4, 0xca, 0xd4),
            text: RGBColor(0x4a, 0x52, 0x60),
            completed: RGBColor(0x1a, 0x7f, 0x37),
            failed: RGBColor(0xcf, 0x22, 0x2e),
            cancelled: RGBColor(0x6e, 0x77, 0x81),
            running: RGBColor(0x09, 0x69, 0xda),
            warning: RGBColor(0x9a, 0x67, 0x00),
            palette: [
                RGBColor(0x09, 0x69, 0xda),
                RGBColor(0x82, 0x50, 0xdf),
                RGBColor(0x1a, 0x7f, 0x37),
                RGBColor(0x9a, 0x67, 0x00),
                RGBColor(0x1b, 0x7c, 0x83),
                RGBColor(0xcf, 0x22, 0x2e),
                RGBColor(0xbc, 0x4c, 0x00),
                RGBColor(0x57, 0x60, 0x6a),
            ],
            scale,
        }
    }

    pub fn px(&self, css_px: f64) -> u32 {
        (css_px * self.scale).round().max(1.0) as u32
    }
}
