//! The pages' static assets, compiled in: Swagger UI and Redoc as vendored from npm (`assets/VENDORED.md`)
//! and Conveyor's own start-up scripts. Each asset's URL names its package's version, or for Conveyor's own
//! a hash of their contents, so every asset is served as immutable.

use conveyor_core::{ApiError, Ctx, Response};

/// The vendored `swagger-ui-dist` version (`assets/swagger-ui-dist/package.json`).
pub const SWAGGER_UI_VERSION: &str = "5.35.0";
/// The vendored `redoc` version (`assets/redoc/package.json`).
pub const REDOC_VERSION: &str = "2.5.2";

/// The directory an asset comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    SwaggerUi,
    Redoc,
    Conveyor,
}

/// One served file.
struct Asset {
    source: Source,
    name: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($source:ident, $dir:literal, $name:literal) => {
        Asset { source: Source::$source, name: $name, bytes: include_bytes!(concat!("../assets/", $dir, "/", $name)) }
    };
}

/// Every served file: the bundles the pages load, the licence files they point to, and the packages'
/// licences.
const ASSETS: &[Asset] = &[
    asset!(SwaggerUi, "swagger-ui-dist", "swagger-ui-bundle.js"),
    asset!(SwaggerUi, "swagger-ui-dist", "swagger-ui-bundle.js.LICENSE.txt"),
    asset!(SwaggerUi, "swagger-ui-dist", "swagger-ui-standalone-preset.js"),
    asset!(SwaggerUi, "swagger-ui-dist", "swagger-ui-standalone-preset.js.LICENSE.txt"),
    asset!(SwaggerUi, "swagger-ui-dist", "swagger-ui.css"),
    asset!(SwaggerUi, "swagger-ui-dist", "LICENSE"),
    asset!(SwaggerUi, "swagger-ui-dist", "NOTICE"),
    asset!(Redoc, "redoc", "redoc.standalone.js"),
    asset!(Redoc, "redoc", "redoc.standalone.js.LICENSE.txt"),
    asset!(Redoc, "redoc", "LICENSE"),
    asset!(Conveyor, "conveyor", "swagger-init.js"),
    asset!(Conveyor, "conveyor", "redoc-init.js"),
    asset!(Conveyor, "conveyor", "docs.css"),
];

/// A year: the URL changes whenever the contents do.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl Source {
    /// The URL segment naming this source's revision: `<package>@<version>`, or `conveyor@<hash>`.
    fn revision(self) -> String {
        match self {
            Source::SwaggerUi => format!("swagger-ui-dist@{SWAGGER_UI_VERSION}"),
            Source::Redoc => format!("redoc@{REDOC_VERSION}"),
            Source::Conveyor => format!("conveyor@{:016x}", own_hash()),
        }
    }
}

/// FNV-1a over Conveyor's own assets (a few kilobytes).
fn own_hash() -> u64 {
    let own = ASSETS.iter().filter(|asset| asset.source == Source::Conveyor);
    own.flat_map(|asset| asset.name.bytes().chain(asset.bytes.iter().copied()))
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The URL of an asset, for the pages.
pub fn url(source: Source, name: &str) -> String {
    debug_assert!(ASSETS.iter().any(|asset| asset.source == source && asset.name == name), "no asset {name}");
    format!("/docs/assets/{}/{name}", source.revision())
}

/// `GET /docs/assets/{revision}/{name}`: the asset, or 404 (SPEC §1) for an unknown name or a revision
/// that is not the current one.
pub fn serve(ctx: &Ctx) -> Result<Response, ApiError> {
    let (revision, name) = (ctx.param("revision"), ctx.param("name"));
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name && asset.source.revision() == revision)
        .ok_or_else(|| ApiError::NotFound(format!("no asset {revision}/{name}")))?;
    Ok(Response::raw(200, content_type(asset.name), asset.bytes)
        .with_header("cache-control", IMMUTABLE)
        .with_header("x-content-type-options", "nosniff"))
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    }
}
