"""What the families of toys share: config checks and training fields, the trainer protocol and schedule,
composites, snapshots, device and memory estimates."""
