#include "GoAssistLiveLinkSource.h"

#include "Common/UdpSocketBuilder.h"
#include "GoAssistLiveLinkSourceSettings.h"
#include "GoAssistLiveLinkStatus.h"
#include "HAL/PlatformTime.h"
#include "HAL/RunnableThread.h"
#include "ILiveLinkClient.h"
#include "Interfaces/IPv4/IPv4Endpoint.h"
#include "Roles/LiveLinkBasicRole.h"
#include "Roles/LiveLinkBasicTypes.h"
#include "SocketSubsystem.h"
#include "Sockets.h"

#if WITH_GOASSIST_PIXELSTREAMING2
#include "IPixelStreaming2AudioProducer.h"
#include "IPixelStreaming2Module.h"
#endif

#define LOCTEXT_NAMESPACE "GoAssistLiveLink"

DEFINE_LOG_CATEGORY_STATIC(LogGoAssistLiveLink, Log, All);

namespace
{
	// Frames per second of the Live Link scene time derived from the 48 kHz audio clock.
	constexpr int32 SceneFps = 60;
}

FGoAssistLiveLinkSource::FGoAssistLiveLinkSource(int32 InListenPort, const FString& InSubjectPattern, bool bInPortFromConnectionString)
	: ListenPort(InListenPort)
	, SubjectPattern(InSubjectPattern)
	, bPortFromConnectionString(bInPortFromConnectionString)
{
	ReceiveBuffer.SetNumUninitialized(static_cast<int32>(goassist::wire::kMaxDatagramLen) + 1);
}

FGoAssistLiveLinkSource::~FGoAssistLiveLinkSource()
{
	RequestSourceShutdown();
}

void FGoAssistLiveLinkSource::ReceiveClient(ILiveLinkClient* InClient, FGuid InSourceGuid)
{
	Client = InClient;
	SourceGuid = InSourceGuid;
	StartIfReady();
}

void FGoAssistLiveLinkSource::InitializeSettings(ULiveLinkSourceSettings* Settings)
{
	// Live Link calls ReceiveClient and InitializeSettings one after the other on the game
	// thread when it adds a source; the receive thread starts once both have run, so it never
	// reads a setting that is still being written.
	if (const UGoAssistLiveLinkSourceSettings* Mine = Cast<UGoAssistLiveLinkSourceSettings>(Settings))
	{
		if (!bPortFromConnectionString)
		{
			ListenPort = Mine->ListenPort;
		}
		SubjectPattern = Mine->SubjectPattern;
		StallSeconds = Mine->StallSeconds;
		SlowFreezeSeconds = Mine->SlowFreezeSeconds;
		bFeedPixelStreamingAudio = Mine->bFeedPixelStreamingAudio;
	}
	bSettingsApplied = true;
	StartIfReady();
}

void FGoAssistLiveLinkSource::StartIfReady()
{
	if (Client == nullptr || !bSettingsApplied || Thread != nullptr || bStopping)
	{
		return;
	}
	const FIPv4Endpoint Endpoint(FIPv4Address::Any, static_cast<uint16>(ListenPort));
	Socket = FUdpSocketBuilder(TEXT("GoAssistLiveLink"))
		.AsNonBlocking()
		.AsReusable()
		.BoundToEndpoint(Endpoint)
		.WithReceiveBufferSize(1 << 20)
		.Build();
	if (Socket == nullptr)
	{
		UE_LOG(LogGoAssistLiveLink, Error, TEXT("Cannot bind UDP port %d"), ListenPort);
		return;
	}

#if WITH_GOASSIST_PIXELSTREAMING2
	if (bFeedPixelStreamingAudio && IPixelStreaming2Module::IsAvailable())
	{
		AudioProducer = IPixelStreaming2Module::Get().CreateAudioProducer();
	}
#endif

	Thread = FRunnableThread::Create(this, TEXT("GoAssistLiveLinkReceiver"), 128 * 1024, TPri_AboveNormal);
}

bool FGoAssistLiveLinkSource::IsSourceStillValid() const
{
	return Socket != nullptr && Thread != nullptr && !bStopping;
}

bool FGoAssistLiveLinkSource::RequestSourceShutdown()
{
	bStopping = true;
	if (Thread != nullptr)
	{
		Thread->Kill(true);
		delete Thread;
		Thread = nullptr;
	}
	if (Socket != nullptr)
	{
		Socket->Close();
		ISocketSubsystem::Get(PLATFORM_SOCKETSUBSYSTEM)->DestroySocket(Socket);
		Socket = nullptr;
	}
	AudioProducer.Reset();
	return true;
}

FText FGoAssistLiveLinkSource::GetSourceType() const
{
	return LOCTEXT("SourceType", "GoAssist Render Bridge");
}

FText FGoAssistLiveLinkSource::GetSourceMachineName() const
{
	return FText::Format(LOCTEXT("Machine", "UDP :{0}"), FText::AsNumber(ListenPort, &FNumberFormattingOptions::DefaultNoGrouping()));
}

FText FGoAssistLiveLinkSource::GetSourceStatus() const
{
	if (Socket == nullptr)
	{
		return LOCTEXT("NoSocket", "Port unavailable");
	}
	const double Last = LastFrameSeconds.load();
	if (Last <= 0.0)
	{
		return LOCTEXT("Waiting", "Waiting for frames");
	}
	return FPlatformTime::Seconds() - Last < 1.0 ? LOCTEXT("Receiving", "Receiving") : LOCTEXT("Idle", "Idle");
}

TSubclassOf<ULiveLinkSourceSettings> FGoAssistLiveLinkSource::GetSettingsClass() const
{
	return UGoAssistLiveLinkSourceSettings::StaticClass();
}

uint32 FGoAssistLiveLinkSource::Run()
{
	TSharedRef<FInternetAddr> Sender = ISocketSubsystem::Get(PLATFORM_SOCKETSUBSYSTEM)->CreateInternetAddr();
	while (!bStopping)
	{
		// Wake at least every 10 ms to advance slow-freezes.
		if (Socket->Wait(ESocketWaitConditions::WaitForRead, FTimespan::FromMilliseconds(10)))
		{
			int32 Read = 0;
			while (!bStopping && Socket->RecvFrom(ReceiveBuffer.GetData(), ReceiveBuffer.Num(), Read, *Sender))
			{
				HandleDatagram(ReceiveBuffer.GetData(), Read);
			}
		}
		TickFreeze(FPlatformTime::Seconds());
	}
	return 0;
}

void FGoAssistLiveLinkSource::HandleDatagram(const uint8* Data, int32 Size)
{
	FGoAssistLiveLinkStatusCounters& Status = FGoAssistLiveLinkStatusCounters::Get();
	goassist::wire::BridgeDatagram Datagram;
	if (Size <= 0 || goassist::wire::DecodeBridgeDatagram(Data, static_cast<std::size_t>(Size), &Datagram) != goassist::wire::Status::kOk)
	{
		++Status.PacketsMalformed;
		return;
	}
	// A routed avatar carries its subject (the bridge's routing decides); otherwise the
	// source's pattern names it from the avatar and session ids.
	FName Subject;
	if (Datagram.subject != nullptr)
	{
		const FUTF8ToTCHAR Routed(Datagram.subject, static_cast<int32>(Datagram.subject_len));
		Subject = FName(Routed.Length(), Routed.Get());
	}
	else
	{
		Subject = SubjectName(Datagram.avatar_id, Datagram.frame.session_id);
	}
	FSubjectState& State = Subjects.FindOrAdd(Subject);
	if (!State.Order.Accept(Datagram.frame))
	{
		++Status.FramesStale;
		return;
	}
	if (!State.bStaticPushed)
	{
		PushStatic(Subject);
		State.bStaticPushed = true;
	}
	const double Now = FPlatformTime::Seconds();
	FMemory::Memcpy(State.Values, Datagram.frame.values, sizeof(State.Values));
	State.LastFrameSeconds = Now;
	State.LastSamplePos = Datagram.frame.sample_pos;
	State.bFreezing = false;
	State.bQuiet = false;
	PushFrame(Subject, State.Values, State.LastSamplePos);
	PushAudio(Datagram);
	LastFrameSeconds = Now;
	Status.LastFrameSeconds = Now;
	++Status.FramesAccepted;
}

void FGoAssistLiveLinkSource::TickFreeze(double Now)
{
	int32 Active = 0;
	for (TPair<FName, FSubjectState>& Pair : Subjects)
	{
		FSubjectState& S = Pair.Value;
		if (S.bQuiet)
		{
			continue;
		}
		++Active;
		if (!S.bFreezing)
		{
			if (Now - S.LastFrameSeconds < StallSeconds)
			{
				continue;
			}
			S.bFreezing = true;
			S.FreezeStartSeconds = Now;
			FMemory::Memcpy(S.FreezeFrom, S.Values, sizeof(S.Values));
		}
		const float Keep = goassist::wire::FreezeKeep(Now - S.FreezeStartSeconds, SlowFreezeSeconds);
		for (int32 i = 0; i < goassist::wire::kCurveCount; ++i)
		{
			S.Values[i] = S.FreezeFrom[i] * Keep;
		}
		const uint64 SamplePos = S.LastSamplePos + static_cast<uint64>((Now - S.LastFrameSeconds) * goassist::wire::kAudioSampleRate);
		PushFrame(Pair.Key, S.Values, SamplePos);
		if (Keep <= 0.0f)
		{
			S.bQuiet = true;
			--Active;
		}
	}
	FGoAssistLiveLinkStatusCounters::Get().ActiveSubjects = Active;
}

FName FGoAssistLiveLinkSource::SubjectName(uint32 AvatarId, uint64 SessionId) const
{
	FString Name = SubjectPattern;
	Name.ReplaceInline(TEXT("{avatar}"), *FString::Printf(TEXT("%u"), AvatarId));
	Name.ReplaceInline(TEXT("{session}"), *FString::Printf(TEXT("%llx"), SessionId));
	return FName(*Name);
}

void FGoAssistLiveLinkSource::PushStatic(const FName& Subject)
{
	if (Client == nullptr)
	{
		return;
	}
	FLiveLinkStaticDataStruct StaticData(FLiveLinkBaseStaticData::StaticStruct());
	FLiveLinkBaseStaticData& Static = *StaticData.Cast<FLiveLinkBaseStaticData>();
	Static.PropertyNames.Reserve(goassist::wire::kCurveCount);
	const char* const* Names = goassist::wire::CurveNames();
	for (int32 i = 0; i < goassist::wire::kCurveCount; ++i)
	{
		Static.PropertyNames.Add(FName(Names[i]));
	}
	Client->PushSubjectStaticData_AnyThread({SourceGuid, Subject}, ULiveLinkBasicRole::StaticClass(), MoveTemp(StaticData));
}

void FGoAssistLiveLinkSource::PushFrame(const FName& Subject, const float* Values, uint64 SamplePos)
{
	if (Client == nullptr)
	{
		return;
	}
	FLiveLinkFrameDataStruct FrameData(FLiveLinkBaseFrameData::StaticStruct());
	FLiveLinkBaseFrameData& Frame = *FrameData.Cast<FLiveLinkBaseFrameData>();
	Frame.WorldTime = FLiveLinkWorldTime(FPlatformTime::Seconds());
	// The audio clock is the face's only clock: scene time = sample position at 60 fps.
	const uint64 Scaled = SamplePos * SceneFps;
	const FFrameTime Time(FFrameNumber(static_cast<int32>(Scaled / goassist::wire::kAudioSampleRate)),
		static_cast<float>(Scaled % goassist::wire::kAudioSampleRate) / goassist::wire::kAudioSampleRate);
	Frame.MetaData.SceneTime = FQualifiedFrameTime(Time, FFrameRate(SceneFps, 1));
	Frame.PropertyValues.Append(Values, goassist::wire::kCurveCount);
	Client->PushSubjectFrameData_AnyThread({SourceGuid, Subject}, MoveTemp(FrameData));
}

void FGoAssistLiveLinkSource::PushAudio(const goassist::wire::BridgeDatagram& Datagram)
{
#if WITH_GOASSIST_PIXELSTREAMING2
	if (!AudioProducer.IsValid() || Datagram.audio_samples == 0)
	{
		return;
	}
	AudioScratch.SetNumUninitialized(static_cast<int32>(Datagram.audio_samples), EAllowShrinking::No);
	for (std::size_t i = 0; i < Datagram.audio_samples; ++i)
	{
		AudioScratch[static_cast<int32>(i)] = Datagram.AudioSample(i) / 32768.0f;
	}
	AudioProducer->PushAudio(AudioScratch.GetData(), AudioScratch.Num(), 1, goassist::wire::kAudioSampleRate);
#else
	(void)Datagram;
#endif
}

#undef LOCTEXT_NAMESPACE
