terraform {
  # 1.11: write-only arguments (secret_string_wo), so no secret is stored in
  # the state; ephemeral variables and resources need 1.10.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.90: aws_secretsmanager_secret_version.secret_string_wo.
      version = ">= 5.90, < 7.0"
    }
    random = {
      source = "hashicorp/random"
      # 3.7: the ephemeral random_password that generates the redaction key.
      version = ">= 3.7"
    }
  }
}
