"""Reading built datasets: the training loader (`loader.SequenceDataset`), `validate`, the
`stats` summary (`summary`), the `preview` picture, and the shared file helpers (`h5`)."""
