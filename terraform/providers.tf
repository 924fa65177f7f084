provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Project   = "cequence-cf-passive"
        ManagedBy = "terraform"
      },
      var.tags,
    )
  }
}
