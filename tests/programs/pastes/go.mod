module pastes

go 1.27
