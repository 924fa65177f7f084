//! AWS fixtures shared by the tests that run the binary against moto: an SDK
//! configuration for a moto endpoint and a CloudFront distribution moto accepts.

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// An SDK configuration for moto at `endpoint` (fixed test credentials).
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A distribution (its id), tagged `cequence-enabled=<tag>` when given.
// moto's CreateDistribution wants the legacy ForwardedValues/MinTTL cache settings.
#[allow(deprecated)]
pub async fn create_distribution(
    cloudfront: &aws_sdk_cloudfront::Client,
    reference: &str,
    tag: Option<&str>,
) -> String {
    use aws_sdk_cloudfront::types::*;
    let origin = Origin::builder()
        .id("api")
        .domain_name("api.example.com")
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpsOnly)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let behavior = DefaultCacheBehavior::builder()
        .target_origin_id("api")
        .viewer_protocol_policy(ViewerProtocolPolicy::AllowAll)
        .forwarded_values(
            ForwardedValues::builder()
                .query_string(false)
                .cookies(
                    CookiePreference::builder()
                        .forward(ItemSelection::None)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .min_ttl(0)
        .trusted_signers(
            TrustedSigners::builder()
                .enabled(false)
                .quantity(0)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config = DistributionConfig::builder()
        .caller_reference(reference)
        .comment("test")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(origin)
                .build()
                .unwrap(),
        )
        .default_cache_behavior(behavior)
        .build()
        .unwrap();
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .expect("create distribution");
    let id = created.distribution().unwrap().id().to_string();
    if let Some(value) = tag {
        cloudfront
            .tag_resource()
            .resource(format!("arn:aws:cloudfront::{ACCOUNT}:distribution/{id}"))
            .tags(
                Tags::builder()
                    .items(
                        Tag::builder()
                            .key("cequence-enabled")
                            .value(value)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("tag distribution");
    }
    id
}
