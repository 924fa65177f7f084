//! Pre-built pools of realistic values, and the weighted draws that pick among them.

use rand::Rng;

use crate::text::{cf_escape, push_base64ish};

/// Picks from `(value, weight)` pairs.
pub(crate) fn pick<T: Copy>(rng: &mut impl Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut x = rng.gen_range(0..total);
    for &(v, w) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    Api,
    Static,
}

/// A path template: `stem` pieces are joined by random numeric ids, `queries` likewise by
/// small numbers. Every piece is already escaped as CloudFront logs it.
pub(crate) struct Route {
    pub kind: RouteKind,
    pub stem: Vec<String>,
    pub methods: &'static [(&'static str, u32)],
    pub queries: Vec<Vec<String>>,
    /// Probability that a request carries no query string.
    pub no_query: f64,
    pub host: usize,
    pub behavior: &'static str,
    pub content_type: &'static str,
    pub size: (u64, u64),
}

impl Route {
    pub fn pick_method(&self, rng: &mut impl Rng) -> &'static str {
        pick(rng, self.methods)
    }
}

/// A viewer: requests from the same client share address, agent, cookies.
pub(crate) struct Client {
    pub ip: String,
    pub ua: String,
    pub cookie: String,
    pub xff: String,
    pub referer: String,
    pub asn: u32,
    pub country: &'static str,
}

pub(crate) struct Pools {
    pub clients: Vec<Client>,
    pub routes: Vec<Route>,
    api: Vec<usize>,
    statics: Vec<usize>,
    pub edges: &'static [&'static str],
    pub hosts: &'static [&'static str],
    pub cf_domain: String,
}

const CLIENTS: usize = 4096;
/// Share of requests for static assets.
pub(crate) const STATIC_SHARE: f64 = 0.4;

const EDGES: &[&str] = &[
    "SEA32-C1", "SEA19-C3", "IAD89-P2", "IAD12-C1", "DFW56-P1", "LAX50-C3", "ORD58-P6", "JFK51-C1",
    "FRA56-P5", "FRA60-P3", "LHR61-P1", "LHR50-C1", "CDG50-C1", "AMS58-P2", "NRT57-C3", "NRT20-P2",
    "SIN2-P3", "SYD62-P1", "GRU3-C1", "BOM78-P4", "HIO52-P4", "ICN57-P1",
];

const HOSTS: &[&str] = &["api.example.com", "www.example.com", "static.example.com"];

const ASNS: &[((u32, &str), u32)] = &[
    ((7922, "US"), 14),
    ((701, "US"), 8),
    ((16509, "US"), 8),
    ((15169, "US"), 4),
    ((812, "CA"), 4),
    ((3320, "DE"), 7),
    ((3215, "FR"), 5),
    ((2856, "GB"), 6),
    ((8075, "IE"), 2),
    ((4713, "JP"), 6),
    ((4766, "KR"), 3),
    ((55836, "IN"), 6),
    ((28573, "BR"), 4),
    ((1221, "AU"), 3),
    ((9808, "CN"), 2),
];

/// User agents as the client sent them; escaped (once or, for old-style logs, twice) when
/// the pool is built.
const USER_AGENTS: &[(&str, u32)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", 12),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", 14),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", 10),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", 6),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 3),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 2),
    ("okhttp/4.12.0", 5),
    ("MyApp/3.4.1 (iOS 17.2; iPhone15,2) CFNetwork/1490.0.4 Darwin/23.2.0", 6),
    ("curl/8.4.0", 3),
    ("python-requests/2.31.0", 3),
    ("Go-http-client/2.0", 2),
    ("PostmanRuntime/7.36.0", 1),
    ("Amazon CloudFront", 1),
    ("\"quoted\" <agent> {weird}|^~[x]`'", 1),
    ("-", 1),
];

const REFERERS: &[(&str, u32)] = &[
    ("-", 10),
    ("https://www.example.com/", 30),
    ("https://www.example.com/products?id=12&ref=home", 12),
    ("https://app.example.com/dashboard#settings", 10),
    ("https://www.google.com/", 15),
    ("https://www.bing.com/search?q=example shop", 3),
    ("android-app://com.google.android.gm/", 2),
    ("https://t.co/AbC123", 2),
];

const GET: &[(&str, u32)] = &[("GET", 1)];
const STATIC_METHODS: &[(&str, u32)] = &[("GET", 97), ("HEAD", 3)];
const CRUD_ITEM: &[(&str, u32)] = &[("GET", 70), ("PUT", 18), ("DELETE", 7), ("OPTIONS", 5)];
const LIST_CREATE: &[(&str, u32)] = &[("GET", 70), ("POST", 25), ("OPTIONS", 5)];
const POST_ONLY: &[(&str, u32)] = &[("POST", 95), ("OPTIONS", 5)];
const GRAPHQL: &[(&str, u32)] = &[("POST", 85), ("GET", 12), ("OPTIONS", 3)];
const FILE: &[(&str, u32)] = &[("GET", 60), ("PUT", 25), ("DELETE", 15)];
const HEALTH: &[(&str, u32)] = &[("GET", 80), ("HEAD", 20)];

/// Raw (as sent on the wire) API routes: stem, methods, queries, no-query share,
/// cache behavior, content type, body sizes. `{}` is a random number.
type RouteSpec = (
    &'static str,
    &'static [(&'static str, u32)],
    &'static [&'static str],
    f64,
    &'static str,
    &'static str,
    (u64, u64),
);

const API_ROUTES: &[RouteSpec] = &[
    (
        "/api/v1/users/{}",
        CRUD_ITEM,
        &["fields=name,email", "include=orders&expand=profile"],
        0.7,
        "/api/*",
        "application/json",
        (120, 2400),
    ),
    (
        "/api/v1/users",
        LIST_CREATE,
        &[
            "page={}&limit=50",
            "sort=-created_at&filter[status]=active",
            "sort=name&filter%5Bstatus%5D=active",
            "email=jane.doe+test@example.com",
        ],
        0.3,
        "/api/*",
        "application/json",
        (200, 48_000),
    ),
    (
        "/api/v1/users/{}/orders",
        LIST_CREATE,
        &["status=open&page={}", "since=2024-01-01T00:00:00Z"],
        0.5,
        "/api/*",
        "application/json",
        (80, 32_000),
    ),
    (
        "/api/v1/orders/{}",
        CRUD_ITEM,
        &["expand=items"],
        0.8,
        "/api/*",
        "application/json;%20charset=utf-8",
        (300, 6000),
    ),
    (
        "/api/v1/orders/{}/items/{}",
        CRUD_ITEM,
        &[],
        1.0,
        "/api/*",
        "application/json",
        (100, 1200),
    ),
    (
        "/api/v2/products/search",
        GET,
        &[
            "q=red+shoes&size={}",
            "q=caf%C3%A9&lang=fr",
            "q=%22exact+phrase%22",
            "q=50%25+off&page={}",
            "redirect=%2Fhome%2Fdash",
            "filter=%7B%22price%22%3A%7B%22lt%22%3A{}%7D%7D",
            "q=a b&sort=price",
            "callback=https%3A%2F%2Fexample.com%2Fcb",
            "q=<script>alert(1)</script>",
        ],
        0.05,
        "/api/*",
        "application/json",
        (400, 120_000),
    ),
    (
        "/api/v1/auth/login",
        POST_ONLY,
        &[],
        1.0,
        "/api/auth/*",
        "application/json",
        (60, 900),
    ),
    (
        "/api/v1/auth/token",
        POST_ONLY,
        &["grant_type=refresh_token"],
        0.6,
        "/api/auth/*",
        "application/json",
        (600, 1400),
    ),
    (
        "/graphql",
        GRAPHQL,
        &[
            "query=%7Bme%7Bid+name%7D%7D",
            "operationName=GetCart&variables=%7B%22id%22%3A{}%7D",
        ],
        0.85,
        "/graphql",
        "application/graphql-response+json",
        (50, 20_000),
    ),
    (
        "/api/v1/files/Q1%20report.pdf",
        FILE,
        &["download=1"],
        0.6,
        "/api/*",
        "application/pdf",
        (40_000, 900_000),
    ),
    (
        "/api/v1/tags/caf\u{e9}",
        GET,
        &[],
        1.0,
        "/api/*",
        "application/json",
        (60, 3000),
    ),
    (
        "/api/v1/health",
        HEALTH,
        &[],
        1.0,
        "/api/*",
        "application/json",
        (15, 60),
    ),
    (
        "/api/v1/carts/{}/checkout",
        POST_ONLY,
        &[],
        1.0,
        "/api/*",
        "application/json",
        (200, 2000),
    ),
    (
        "/api/v1/users/{}/avatar",
        FILE,
        &["size={}"],
        0.5,
        "/api/*",
        "image/png",
        (2000, 80_000),
    ),
    (
        "/api/v1/notifications",
        GET,
        &["since={}&unread=true", "cursor=eyJpZCI6MTIzfQ%3D%3D"],
        0.4,
        "/api/*",
        "application/json",
        (40, 9000),
    ),
];

const STATIC_ROUTES: &[RouteSpec] = &[
    (
        "/",
        STATIC_METHODS,
        &["utm_source=newsletter&utm_campaign=jan+sale"],
        0.9,
        "*",
        "text/html",
        (3000, 24_000),
    ),
    (
        "/index.html",
        STATIC_METHODS,
        &[],
        1.0,
        "*",
        "text/html",
        (3000, 24_000),
    ),
    (
        "/static/js/main.3f2a1b9c.js",
        STATIC_METHODS,
        &["v=1.2.3"],
        0.9,
        "/static/*",
        "application/javascript",
        (180_000, 420_000),
    ),
    (
        "/static/js/vendor.8d41e0aa.js",
        STATIC_METHODS,
        &[],
        1.0,
        "/static/*",
        "application/javascript",
        (300_000, 900_000),
    ),
    (
        "/static/js/chunk-{}.js",
        STATIC_METHODS,
        &[],
        1.0,
        "/static/*",
        "text/javascript",
        (4000, 60_000),
    ),
    (
        "/static/js/main.3f2a1b9c.js.map",
        STATIC_METHODS,
        &[],
        1.0,
        "/static/*",
        "application/json",
        (900_000, 2_400_000),
    ),
    (
        "/static/css/app.5c7e91d2.css",
        STATIC_METHODS,
        &[],
        1.0,
        "/static/*",
        "text/css",
        (20_000, 90_000),
    ),
    (
        "/assets/[legacy]/old theme.css",
        STATIC_METHODS,
        &[],
        1.0,
        "*",
        "text/css",
        (2000, 9000),
    ),
    (
        "/img/logo.png",
        STATIC_METHODS,
        &[],
        1.0,
        "/img/*",
        "image/png",
        (4000, 16_000),
    ),
    (
        "/img/products/{}.jpg",
        STATIC_METHODS,
        &["w={}&q=80", "w={}&fm=webp"],
        0.5,
        "/img/*",
        "image/jpeg",
        (20_000, 350_000),
    ),
    (
        "/img/hero@2x.webp",
        STATIC_METHODS,
        &[],
        1.0,
        "/img/*",
        "image/webp",
        (80_000, 240_000),
    ),
    (
        "/img/icons/sprite.svg",
        STATIC_METHODS,
        &[],
        1.0,
        "/img/*",
        "image/svg+xml",
        (6000, 30_000),
    ),
    (
        "/favicon.ico",
        STATIC_METHODS,
        &[],
        1.0,
        "*",
        "image/x-icon",
        (1000, 15_000),
    ),
    (
        "/fonts/inter-var.woff2",
        STATIC_METHODS,
        &[],
        1.0,
        "/fonts/*",
        "font/woff2",
        (40_000, 110_000),
    ),
    (
        "/fonts/roboto-v30-latin-regular.woff2",
        STATIC_METHODS,
        &[],
        1.0,
        "/fonts/*",
        "font/woff2",
        (15_000, 20_000),
    ),
    (
        "/media/intro video.mp4",
        STATIC_METHODS,
        &[],
        1.0,
        "/media/*",
        "video/mp4",
        (2_000_000, 40_000_000),
    ),
    (
        "/robots.txt",
        STATIC_METHODS,
        &[],
        1.0,
        "*",
        "text/plain",
        (60, 400),
    ),
];

fn build_route(spec: &RouteSpec, kind: RouteKind) -> Route {
    let &(stem, methods, queries, no_query, behavior, content_type, size) = spec;
    let split = |s: &str| s.split("{}").map(cf_escape).collect::<Vec<_>>();
    let host = match (
        kind,
        stem.starts_with("/static/") || stem.starts_with("/img/"),
    ) {
        (RouteKind::Api, _) => 0,
        (RouteKind::Static, false) => 1,
        (RouteKind::Static, true) => 2,
    };
    Route {
        kind,
        stem: split(stem),
        methods,
        queries: queries.iter().map(|q| split(q)).collect(),
        no_query,
        host,
        behavior,
        content_type,
        size,
    }
}

fn random_ipv4(rng: &mut impl Rng) -> String {
    loop {
        let a: u8 = rng.gen_range(1..224);
        if a == 10 || a == 127 || a == 100 || a == 172 || a == 192 {
            continue;
        }
        let (b, c, d): (u8, u8, u8) = (rng.gen(), rng.gen(), rng.gen_range(1..255));
        return format!("{a}.{b}.{c}.{d}");
    }
}

fn random_ipv6(rng: &mut impl Rng) -> String {
    let prefix = pick(
        rng,
        &[
            ("2001:db8", 1),
            ("2a02:c7f", 3),
            ("2600:1700", 3),
            ("2406:da18", 2),
        ],
    );
    let groups: Vec<String> = (0..6).map(|_| format!("{:x}", rng.gen::<u16>())).collect();
    if rng.gen_bool(0.4) {
        // Compressed form.
        format!("{prefix}::{}:{}", groups[4], groups[5])
    } else {
        format!("{prefix}:{}", groups.join(":"))
    }
}

fn random_ip(rng: &mut impl Rng) -> String {
    if rng.gen_bool(0.2) {
        random_ipv6(rng)
    } else {
        random_ipv4(rng)
    }
}

fn random_token(rng: &mut impl Rng, n: usize) -> String {
    let mut v = Vec::with_capacity(n);
    push_base64ish(&mut v, rng, n);
    String::from_utf8(v).unwrap_or_default()
}

/// A client's cookie header, escaped; `always` leaves out the 40% without one.
fn random_cookie(rng: &mut impl Rng, always: bool) -> String {
    let pick = if always {
        rng.gen_range(4..10)
    } else {
        rng.gen_range(0..10)
    };
    let raw = match pick {
        0..=3 => return "-".to_owned(),
        4 | 5 => format!("session={}; theme=dark", random_token(rng, 32)),
        6 => format!(
            "_ga=GA1.2.{}.{}; _gid=GA1.2.{}.{}",
            rng.gen_range(100_000_000..999_999_999u32),
            rng.gen_range(1_690_000_000..1_706_000_000u32),
            rng.gen_range(100_000_000..999_999_999u32),
            rng.gen_range(1_706_000_000..1_706_745_600u32)
        ),
        7 => format!(
            "csrftoken={}; sessionid={}; pref=lang%3Den%2Ccur%3DEUR",
            random_token(rng, 32),
            random_token(rng, 24)
        ),
        8 => format!(
            "AWSALB={}; AWSALBCORS={}",
            random_token(rng, 40),
            random_token(rng, 40)
        ),
        _ => format!(
            "cart=\"{{\\\"items\\\":{}}}\"; consent=yes",
            rng.gen_range(1..9)
        ),
    };
    cf_escape(&raw)
}

fn random_xff(rng: &mut impl Rng, ip: &str) -> String {
    match rng.gen_range(0..100) {
        0..=77 => "-".to_owned(),
        78..=85 => random_ip(rng),
        86..=90 => format!("{}, {}", random_ip(rng), random_ip(rng)),
        91..=94 => format!("{},{},{ip}", random_ip(rng), random_ip(rng)),
        95 => "unknown".to_owned(),
        96 => format!("unknown, {ip}"),
        97 => format!("{}:{}", random_ipv4(rng), rng.gen_range(1024..65535)),
        98 => "localhost:8080".to_owned(),
        _ => format!(
            "{}, 10.0.{}.{}",
            random_ip(rng),
            rng.gen::<u8>(),
            rng.gen::<u8>()
        ),
    }
}

impl Pools {
    /// `every_client_has_cookies`: for a fixed per-request cookie share.
    pub fn new(rng: &mut impl Rng, every_client_has_cookies: bool) -> Pools {
        let mut routes = Vec::new();
        routes.extend(API_ROUTES.iter().map(|s| build_route(s, RouteKind::Api)));
        routes.extend(
            STATIC_ROUTES
                .iter()
                .map(|s| build_route(s, RouteKind::Static)),
        );
        let api = (0..API_ROUTES.len()).collect();
        let statics = (API_ROUTES.len()..routes.len()).collect();
        let clients = (0..CLIENTS)
            .map(|_| {
                let ip = random_ip(rng);
                let raw_ua = pick(rng, USER_AGENTS);
                let ua = if raw_ua == "-" {
                    "-".to_owned()
                } else if rng.gen_bool(0.15) {
                    // Logs from roughly 2013–2020 encoded user agents twice.
                    cf_escape(&cf_escape(raw_ua))
                } else {
                    cf_escape(raw_ua)
                };
                let referer = pick(rng, REFERERS);
                let referer = if referer == "-" {
                    "-".to_owned()
                } else {
                    cf_escape(referer)
                };
                let (asn, country) = pick(rng, ASNS);
                Client {
                    cookie: random_cookie(rng, every_client_has_cookies),
                    xff: random_xff(rng, &ip),
                    ip,
                    ua,
                    referer,
                    asn,
                    country,
                }
            })
            .collect();
        let cf_domain = format!(
            "d{}.cloudfront.net",
            (0..13)
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.gen_range(0..36)]))
                .collect::<String>()
        );
        Pools {
            clients,
            routes,
            api,
            statics,
            edges: EDGES,
            hosts: HOSTS,
            cf_domain,
        }
    }

    /// A client; a few busy clients send a large share of requests.
    pub fn pick_client(&self, rng: &mut impl Rng) -> &Client {
        let n = if rng.gen_bool(0.3) {
            64
        } else {
            self.clients.len()
        };
        &self.clients[rng.gen_range(0..n)]
    }

    pub fn pick_route(&self, rng: &mut impl Rng, static_share: f64) -> &Route {
        let set = if rng.gen_bool(static_share) {
            &self.statics
        } else {
            &self.api
        };
        &self.routes[set[rng.gen_range(0..set.len())]]
    }
}

/// A numeric id for a path: mostly small, some large.
pub(crate) fn pick_id(rng: &mut impl Rng) -> u64 {
    match rng.gen_range(0..10) {
        0..=4 => rng.gen_range(1..1000),
        5..=8 => rng.gen_range(1000..100_000),
        _ => rng.gen_range(100_000..1_000_000_000),
    }
}

/// An HTTP status; `0` stands for `000` (the viewer went away).
pub(crate) fn pick_status(rng: &mut impl Rng, kind: RouteKind, method: &str) -> u16 {
    let table: &[(u16, u32)] = match (kind, method) {
        (RouteKind::Static, _) => &[
            (200, 620),
            (304, 250),
            (404, 50),
            (206, 20),
            (301, 20),
            (403, 10),
            (0, 10),
            (500, 5),
            (502, 5),
            (503, 5),
            (400, 5),
        ],
        (_, "POST") => &[
            (201, 400),
            (200, 350),
            (400, 80),
            (401, 60),
            (403, 20),
            (429, 40),
            (500, 20),
            (502, 10),
            (503, 10),
            (0, 10),
        ],
        (_, "PUT") => &[
            (200, 800),
            (400, 80),
            (401, 40),
            (404, 40),
            (500, 20),
            (0, 20),
        ],
        (_, "DELETE") => &[(204, 800), (404, 100), (401, 50), (403, 30), (500, 20)],
        (_, "OPTIONS") => &[(204, 900), (200, 100)],
        (_, "HEAD") => &[(200, 950), (503, 50)],
        _ => &[
            (200, 800),
            (304, 30),
            (400, 20),
            (401, 40),
            (403, 20),
            (404, 40),
            (429, 20),
            (500, 10),
            (502, 10),
            (503, 10),
            (0, 5),
        ],
    };
    pick(rng, table)
}

/// `x-edge-result-type`, `x-edge-response-result-type`, `x-edge-detailed-result-type`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResultKind {
    pub edge: &'static str,
    pub response: &'static str,
    pub detailed: &'static str,
}

const fn rk(edge: &'static str, response: &'static str, detailed: &'static str) -> ResultKind {
    ResultKind {
        edge,
        response,
        detailed,
    }
}

pub(crate) fn pick_result(rng: &mut impl Rng, kind: RouteKind, status: u16) -> ResultKind {
    let table: &[(ResultKind, u32)] = match (kind, status) {
        (_, 0) => &[
            (rk("Miss", "Error", "ClientCommError"), 6),
            (rk("Hit", "Error", "ClientCommError"), 3),
            (rk("Error", "Error", "ClientHungUpRequest"), 1),
        ],
        (_, 301) => &[(rk("Redirect", "Redirect", "Redirect"), 1)],
        (_, 500) => &[(rk("Error", "Error", "OriginError"), 1)],
        (_, 502) => &[
            (rk("Error", "Error", "OriginConnectError"), 5),
            (rk("Error", "Error", "OriginCommError"), 3),
            (rk("Error", "Error", "OriginDnsError"), 1),
            (
                rk(
                    "LambdaExecutionError",
                    "LambdaExecutionError",
                    "LambdaExecutionError",
                ),
                1,
            ),
        ],
        (_, 503) => &[
            (rk("Error", "Error", "OriginError"), 6),
            (
                rk("CapacityExceeded", "CapacityExceeded", "CapacityExceeded"),
                2,
            ),
            (rk("LimitExceeded", "LimitExceeded", "LimitExceeded"), 2),
        ],
        (RouteKind::Static, 403) => &[
            (rk("Error", "Error", "Error"), 7),
            (rk("Error", "Error", "ClientGeoBlocked"), 3),
        ],
        (_, 400) => &[
            (rk("Error", "Error", "Error"), 7),
            (rk("Error", "Error", "InvalidRequest"), 3),
        ],
        (_, 401 | 403) => &[
            (rk("Error", "Error", "Error"), 8),
            (
                rk(
                    "LambdaGeneratedResponse",
                    "LambdaGeneratedResponse",
                    "LambdaGeneratedResponse",
                ),
                2,
            ),
        ],
        (_, 404 | 429) => &[(rk("Error", "Error", "Error"), 1)],
        (RouteKind::Static, _) => &[
            (rk("Hit", "Hit", "Hit"), 70),
            (rk("RefreshHit", "RefreshHit", "RefreshHit"), 8),
            (rk("Miss", "Miss", "Miss"), 15),
            (rk("Miss", "Miss", "OriginShieldHit"), 6),
            (rk("Miss", "Miss", "MissGeneratedResponse"), 1),
        ],
        (RouteKind::Api, _) => &[
            (rk("Miss", "Miss", "Miss"), 90),
            (rk("Hit", "Hit", "Hit"), 4),
            (
                rk(
                    "LambdaGeneratedResponse",
                    "LambdaGeneratedResponse",
                    "LambdaGeneratedResponse",
                ),
                3,
            ),
            (rk("Miss", "Miss", "MissGeneratedResponse"), 3),
        ],
    };
    pick(rng, table)
}

/// The response: bytes sent, content type and length, and range.
pub(crate) struct Body {
    pub sent: u64,
    pub content_type: &'static str,
    pub content_len: Option<u64>,
    pub range: Option<(u64, u64)>,
}

pub(crate) fn pick_body(rng: &mut impl Rng, route: &Route, status: u16, method: &str) -> Body {
    let none = Body {
        sent: 0,
        content_type: "-",
        content_len: None,
        range: None,
    };
    let fixed = |ct: &'static str, len: u64| Body {
        sent: len,
        content_type: ct,
        content_len: Some(len),
        range: None,
    };
    match status {
        0 | 204 | 304 => none,
        301 => fixed("text/html", 167),
        400..=599 if route.kind == RouteKind::Static => match status {
            403 | 404 => fixed("application/xml", rng.gen_range(240..400)),
            _ => fixed("text/html", rng.gen_range(900..1100)),
        },
        400..=599 => fixed("application/json", rng.gen_range(30..400)),
        206 => {
            let len = rng.gen_range(route.size.0..=route.size.1);
            let start = if rng.gen_bool(0.5) {
                0
            } else {
                rng.gen_range(0..len / 2)
            };
            let end = (start + rng.gen_range(1..=1_048_576)).min(len - 1);
            Body {
                sent: end - start + 1,
                content_type: route.content_type,
                content_len: Some(end - start + 1),
                range: Some((start, end)),
            }
        }
        _ => {
            let len = rng.gen_range(route.size.0..=route.size.1);
            let sent = if method == "HEAD" { 0 } else { len };
            // Some API responses are chunked: no content length.
            let content_len = if route.kind == RouteKind::Api && rng.gen_bool(0.1) {
                None
            } else {
                Some(len)
            };
            Body {
                sent,
                content_type: route.content_type,
                content_len,
                range: None,
            }
        }
    }
}

/// `(cs-protocol, uses TLS)`.
pub(crate) fn pick_protocol(
    rng: &mut impl Rng,
    kind: RouteKind,
    method: &str,
) -> (&'static str, bool) {
    let proto = match (kind, method) {
        (RouteKind::Static, _) => pick(rng, &[("https", 90), ("http", 10)]),
        (_, "GET") => pick(rng, &[("https", 93), ("http", 3), ("wss", 3), ("ws", 1)]),
        (_, "POST") => pick(rng, &[("https", 94), ("http", 2), ("grpcs", 4)]),
        _ => pick(rng, &[("https", 97), ("http", 3)]),
    };
    (proto, matches!(proto, "https" | "wss" | "grpcs"))
}

pub(crate) fn pick_http_version(rng: &mut impl Rng, proto: &str) -> &'static str {
    match proto {
        "grpcs" => "HTTP/2.0",
        "ws" | "wss" => "HTTP/1.1",
        "http" => pick(rng, &[("HTTP/1.1", 90), ("HTTP/1.0", 10)]),
        _ => pick(
            rng,
            &[
                ("HTTP/2.0", 55),
                ("HTTP/1.1", 35),
                ("HTTP/3.0", 9),
                ("HTTP/1.0", 1),
            ],
        ),
    }
}

pub(crate) fn pick_tls(rng: &mut impl Rng) -> (&'static str, &'static str) {
    match rng.gen_range(0..100) {
        0..=71 => (
            "TLSv1.3",
            pick(
                rng,
                &[
                    ("TLS_AES_128_GCM_SHA256", 60),
                    ("TLS_AES_256_GCM_SHA384", 25),
                    ("TLS_CHACHA20_POLY1305_SHA256", 15),
                ],
            ),
        ),
        72..=98 => (
            "TLSv1.2",
            pick(
                rng,
                &[
                    ("ECDHE-RSA-AES128-GCM-SHA256", 70),
                    ("ECDHE-RSA-AES256-GCM-SHA384", 20),
                    ("ECDHE-RSA-CHACHA20-POLY1305", 10),
                ],
            ),
        ),
        _ => ("TLSv1", "ECDHE-RSA-AES128-SHA"),
    }
}

/// Timings in milliseconds.
pub(crate) struct Timings {
    pub taken: u64,
    pub ttfb: u64,
    pub origin_fbl: Option<u64>,
    pub origin_lbl: Option<u64>,
}

pub(crate) fn pick_timings(rng: &mut impl Rng, result: ResultKind) -> Timings {
    let from_cache = matches!(result.edge, "Hit" | "RefreshHit" | "Redirect")
        || result.detailed == "MissGeneratedResponse"
        || result.edge == "LambdaGeneratedResponse";
    if from_cache {
        let taken = rng.gen_range(1..40);
        return Timings {
            taken,
            ttfb: rng.gen_range(1..=taken),
            origin_fbl: None,
            origin_lbl: None,
        };
    }
    // A long tail: most origin trips are quick, a few take seconds.
    let taken: u64 = match rng.gen_range(0..100) {
        0..=69 => rng.gen_range(15..200),
        70..=94 => rng.gen_range(200..1200),
        _ => rng.gen_range(1200..30_000),
    };
    let ttfb = (taken * rng.gen_range(55..100) / 100).max(1);
    let fbl = ttfb.saturating_sub(rng.gen_range(0..5)).max(1);
    let lbl = taken.saturating_sub(rng.gen_range(0..5)).max(fbl);
    Timings {
        taken,
        ttfb,
        origin_fbl: Some(fbl),
        origin_lbl: Some(lbl),
    }
}
