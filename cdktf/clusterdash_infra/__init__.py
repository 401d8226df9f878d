"""CDKTF stacks that synthesize the Terraform configuration of a clusterdash RunPod cluster."""
